"""Connection failures injected by tests (``/_hsmsim/connection-faults``), where AWS's cause is outside KMS and
CloudHSM: a deleted subnet, a full subnet, a blocked network, an internal error of KMS.

A fault belongs to a cluster and makes the next connection of any store to that cluster fail with its code, for
``count`` connections (or until cleared). Faults live in memory: a restart forgets them.
https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html#fix-keystore-failed
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kms.enums import ConnectionErrorCode

INJECTABLE = (
    ConnectionErrorCode.SUBNET_NOT_FOUND,
    ConnectionErrorCode.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET,
    ConnectionErrorCode.NETWORK_ERRORS,
    ConnectionErrorCode.INTERNAL_ERROR,
)
"""In the order the connection sequence meets them (INTERNAL_ERROR first: KMS fails before it looks)."""


@dataclass
class Fault:
    cluster_id: str
    error: ConnectionErrorCode
    remaining: int | None
    """Connections still to fail; ``None``: until cleared."""

    def view(self) -> dict[str, object]:
        return {"cluster_id": self.cluster_id, "error": self.error.value, "remaining": self.remaining}


class ConnectionFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, ConnectionErrorCode], Fault] = {}

    def inject(self, cluster_id: str, error: ConnectionErrorCode, count: int | None) -> Fault:
        if error not in INJECTABLE:
            raise ValueError(error)
        with self._lock:
            fault = self._faults[(cluster_id, error)] = Fault(cluster_id, error, count)
            return fault

    def clear(self, cluster_id: str | None = None) -> int:
        with self._lock:
            gone = [k for k in self._faults if cluster_id is None or k[0] == cluster_id]
            for key in gone:
                del self._faults[key]
            return len(gone)

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults.values())

    def take(self, cluster_id: str, error: ConnectionErrorCode) -> bool:
        """Whether a connection to ``cluster_id`` meets ``error``; a counted fault counts down (gone at zero)."""
        with self._lock:
            fault = self._faults.get((cluster_id, error))
            if fault is None:
                return False
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[(cluster_id, error)]
            return True
