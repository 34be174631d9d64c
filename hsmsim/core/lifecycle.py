"""Asynchronous AWS transitions as data, applied on the simulated clock.

A resource that AWS moves on by itself (a cluster leaving ``CREATE_IN_PROGRESS``, a backup in
``PENDING_DELETION`` that disappears after seven days) is a row with a ``state`` and a ``due_at`` column. The
transition table of its service says, for each state that moves on by itself, where it goes and after how long:
either a *delay* named by a key of the delay profile (provisioning times: ``instant``, ``fast`` or ``realistic``)
or a fixed simulated period (an AWS rule such as the seven days of ``PENDING_DELETION``). Entering a state through
:meth:`Lifecycle.enter` sets ``due_at`` from the table, so no service computes a due time itself.

Periodic work that is not a state change (the daily backup, backup retention) is a :class:`Timer`: a column
holding the next due time and a function that does the work and moves or clears that column.

:meth:`Lifecycle.apply_due` runs every transition and timer that falls due up to ``now``, oldest first. Each
request calls it at the start of its unit of work and a background ticker calls it too, so side effects
happen even when nobody polls. Nothing here reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

Hook = Callable[[Any, Any, datetime], None]
"""``hook(context, row, at)``: a side effect run when a row enters a state (or is removed) at simulated time ``at``."""


@dataclass(frozen=True)
class Transition:
    """``source`` moves to ``target`` once ``delay`` has passed since the row entered ``source``.

    ``target`` may be a function of the row (a cluster restored from a backup skips initialisation) or ``None``:
    the row is then deleted, after ``on_enter`` ran as its removal hook.
    """

    model: type
    source: Enum
    target: Enum | Callable[[Any], Enum | None] | None
    delay: str | timedelta | Callable[[Any], str | timedelta]
    on_enter: Hook | None = None

    def target_for(self, row: Any) -> Enum | None:
        if self.target is None or isinstance(self.target, Enum):
            return self.target
        return self.target(row)


@dataclass(frozen=True)
class Timer:
    """Periodic work: when ``getattr(row, column) <= now``, ``fire(context, row, now)`` runs.

    ``fire`` must move the column forward or set it to ``None``, otherwise the timer would fire again at once.
    """

    model: type
    column: str
    fire: Callable[[Any, Any, datetime], None]


class Lifecycle:
    """Applies a service's transition table and timers to its rows."""

    max_steps = 100_000

    def __init__(
        self,
        transitions: Sequence[Transition],
        timers: Sequence[Timer],
        delays: Mapping[str, timedelta],
    ) -> None:
        self._by_source: dict[tuple[type, Enum], Transition] = {}
        for transition in transitions:
            key = (transition.model, transition.source)
            if key in self._by_source:
                raise ValueError(f"two transitions leave {transition.model.__name__} {transition.source}")
            if isinstance(transition.delay, str) and transition.delay not in delays:
                raise ValueError(f"delay profile has no entry {transition.delay!r}")
            self._by_source[key] = transition
        self._models = list(dict.fromkeys(t.model for t in transitions))
        self._timers = list(timers)
        self._delays = dict(delays)

    def delay_of(self, transition: Transition, row: Any) -> timedelta:
        delay = transition.delay(row) if callable(transition.delay) else transition.delay
        return delay if isinstance(delay, timedelta) else self._delays[delay]

    def enter(self, row: Any, state: Enum, now: datetime) -> None:
        """Put ``row`` in ``state`` as of ``now``; ``due_at`` follows from the table (``None``: stays put)."""
        row.state = state
        transition = self._by_source.get((type(row), state))
        row.due_at = None if transition is None else now + self.delay_of(transition, row)

    def next_due(self, session: Session) -> datetime | None:
        """The earliest time at which something is due, for the background ticker."""
        times: list[datetime] = []
        for model in self._models:
            found = session.scalar(select(model.due_at).where(model.due_at.is_not(None)).order_by(model.due_at).limit(1))
            if found is not None:
                times.append(found)
        for timer in self._timers:
            column = getattr(timer.model, timer.column)
            found = session.scalar(select(column).where(column.is_not(None)).order_by(column).limit(1))
            if found is not None:
                times.append(found)
        return min(times, default=None)

    def apply_due(self, session: Session, context: Any, now: datetime) -> int:
        """Apply everything due at ``now``, in due-time order, until nothing is left; returns the count."""
        applied = 0
        while True:
            work = self._due_work(session, now)
            if not work:
                return applied
            for due_at, kind, row in work:
                if kind == "transition":
                    if row.due_at is None or row.due_at != due_at:
                        continue  # an earlier step in this round already moved it
                    self._step(session, context, row, due_at)
                else:
                    timer: Timer = kind
                    if getattr(row, timer.column) != due_at:
                        continue
                    timer.fire(context, row, due_at)
                applied += 1
                if applied > self.max_steps:
                    raise RuntimeError("lifecycle did not settle: a timer or transition loops")
            session.flush()

    def _due_work(self, session: Session, now: datetime) -> list[tuple[datetime, Any, Any]]:
        work: list[tuple[datetime, Any, Any]] = []
        for model in self._models:
            for row in session.scalars(select(model).where(model.due_at <= now)):
                work.append((row.due_at, "transition", row))
        for timer in self._timers:
            column = getattr(timer.model, timer.column)
            for row in session.scalars(select(timer.model).where(column <= now)):
                work.append((getattr(row, timer.column), timer, row))
        work.sort(key=lambda item: item[0])
        return work

    def _step(self, session: Session, context: Any, row: Any, due_at: datetime) -> None:
        transition = self._by_source[(type(row), row.state)]
        target = transition.target_for(row)
        if target is None:
            if transition.on_enter is not None:
                transition.on_enter(context, row, due_at)
            if not inspect(row).was_deleted:  # the removal hook may have deleted (and flushed) it already
                session.delete(row)
            return
        # The new state is entered at the moment the old one fell due, not when the catch-up runs.
        self.enter(row, target, due_at)
        if transition.on_enter is not None:
            transition.on_enter(context, row, due_at)

