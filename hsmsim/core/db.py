"""Persistence: the SQLAlchemy engine and the unit of work every request runs in.

SQLite (the default) or any SQLAlchemy URL (PostgreSQL) holds the rows; SoftHSM token directories and backup
snapshots hold the HSM contents. A :class:`UnitOfWork` keeps the two consistent: a service that creates a token
registers how to undo it with :meth:`UnitOfWork.on_rollback`, and file deletions that must only happen once the
rows are gone go to :meth:`UnitOfWork.after_commit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of every table of the simulator."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite itself drops the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every time in the simulator is timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class UnitOfWork:
    """One database transaction plus the compensations of its side effects outside the database."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.session = factory()
        self._undo: list[Callable[[], None]] = []
        self._after_commit: list[Callable[[], None]] = []

    def on_rollback(self, action: Callable[[], None]) -> None:
        """Run ``action`` if this unit of work does not commit (undo of a side effect already done)."""
        self._undo.append(action)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the transaction has committed (e.g. deleting files the rows pointed to)."""
        self._after_commit.append(action)

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                try:
                    self.session.commit()
                except BaseException:
                    self._rollback()
                    raise
                for action in self._after_commit:
                    _run_quietly(action, "after-commit action")
            else:
                self._rollback()
        finally:
            self.session.close()

    def _rollback(self) -> None:
        self.session.rollback()
        for action in reversed(self._undo):
            _run_quietly(action, "rollback compensation")


def _run_quietly(action: Callable[[], None], what: str) -> None:
    """Run a compensation; a failure is logged (start-up reconciliation repairs what is left), never raised."""
    try:
        action()
    except Exception:
        log.exception("%s failed; start-up reconciliation will repair what it left", what)
