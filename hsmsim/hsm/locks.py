"""
A reader/writer lock with re-entrant readers and writer preference.

Sessions are readers; operations that must not overlap with in-flight PKCS#11 work (re-initialising
the library, deleting or copying a token's files) are writers. A thread already holding the read side
may re-enter it even while a writer waits (nested ``session()`` blocks never deadlock). Whether a
reader may *upgrade* to the write side is the caller's choice: allowed, it waits until it is the only
reader left; two upgraders on one lock would deadlock, so the second one gets an HSMError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import HSMError


class RWLock:
    def __init__(self, name: str = "lock") -> None:
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._readers: dict[int, int] = {}  # thread ident -> depth
        self._writer: int | None = None
        self._writer_depth = 0
        self._waiting_writers = 0
        self._upgrader: int | None = None

    def held_by_me(self) -> bool:
        """Does the calling thread hold this lock, read or write side?"""
        me = threading.get_ident()
        with self._cond:
            return me in self._readers or self._writer == me

    def acquire_read(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if me in self._readers or self._writer == me:
                self._readers[me] = self._readers.get(me, 0) + 1
                return
            while self._writer is not None or self._waiting_writers:
                self._cond.wait()
            self._readers[me] = 1

    def release_read(self) -> None:
        me = threading.get_ident()
        with self._cond:
            depth = self._readers[me] - 1
            if depth:
                self._readers[me] = depth
            else:
                del self._readers[me]
                if self._waiting_writers:  # only a writer can be waiting on readers
                    self._cond.notify_all()

    def acquire_write(self, *, allow_upgrade: bool, timeout: float | None = None) -> None:
        """Take the write side. ``timeout`` (seconds) turns a wait that may be a deadlock into HSMError."""
        me = threading.get_ident()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
                return
            upgrading = me in self._readers
            if upgrading:
                if not allow_upgrade:
                    raise HSMError(
                        f"{self._name}: this thread holds a session; release it before this operation"
                    )
                if self._upgrader is not None:
                    raise HSMError(f"{self._name}: two threads holding sessions both want exclusivity")
                self._upgrader = me
            self._waiting_writers += 1
            try:
                while self._writer is not None or any(t != me for t in self._readers):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise HSMError(f"{self._name}: timed out waiting for exclusive access")
                    self._cond.wait(remaining)
            finally:
                self._waiting_writers -= 1
                if upgrading:
                    self._upgrader = None
                self._cond.notify_all()
            self._writer = me
            self._writer_depth = 1

    def release_write(self) -> None:
        with self._cond:
            if self._writer != threading.get_ident():
                raise RuntimeError(f"{self._name}: released by a thread that does not hold it")
            self._writer_depth -= 1
            if not self._writer_depth:
                self._writer = None
                self._cond.notify_all()

    @contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self, *, allow_upgrade: bool = False, timeout: float | None = None) -> Iterator[None]:
        self.acquire_write(allow_upgrade=allow_upgrade, timeout=timeout)
        try:
            yield
        finally:
            self.release_write()
