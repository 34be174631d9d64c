"""The simulated clock.

Every model and service reads time from a :class:`Clock`, never from the wall clock: that is what lets a test
jump ahead seven days to see a backup leave ``PENDING_DELETION`` (``POST /_hsmsim/clock``). The server's clock
is wall time plus an offset that only grows; the offset is persisted so that a restart keeps simulated time
monotonic.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the simulated time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SimulatedClock:
    """Wall time shifted by an offset that :meth:`advance` moves forward."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = float(offset_seconds)
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, UTC)

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by ``seconds`` (never backwards) and return the new now."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


class FixedClock:
    """A clock that stands still until moved; for unit tests of pure code."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now
