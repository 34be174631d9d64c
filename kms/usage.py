"""GetKeyLastUsage bookkeeping without a database write per cryptographic operation.

Successful operations are recorded in memory (the hot path never writes rows); :meth:`LastUsage.flush` copies them
to the key rows on every lifecycle tick, so a restart loses at most the last tick's worth of usage.
https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kms.models import KmsKey


@dataclass(frozen=True)
class Usage:
    operation: str
    at: datetime
    request_id: str


class LastUsage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Usage] = {}

    def record(self, key_arn: str, operation: str, at: datetime, request_id: str) -> None:
        with self._lock:
            self._pending[key_arn] = Usage(operation, at, request_id)

    def pending(self, key_arn: str) -> Usage | None:
        with self._lock:
            return self._pending.get(key_arn)

    def flush(self, session: Session) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        for key in session.scalars(select(KmsKey).where(KmsKey.arn.in_(list(pending)))):
            usage = pending[key.arn]
            if key.last_used_at is None or usage.at >= key.last_used_at:
                key.last_used_at, key.last_used_operation, key.last_used_request_id = (
                    usage.at, usage.operation, usage.request_id)

    def forget(self) -> None:
        with self._lock:
            self._pending.clear()
