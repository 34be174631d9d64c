"""Live logins to a cluster's HSMs: who is logged in where (in memory; a restart logs everyone out).

Tokens are random and kept only as SHA-256 digests. The data plane's logins live here, and so will KMS's
``kmsuser`` session of a connected custom key store (spec 2.3: "logged in" is tracked across all clients).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveSession:
    cluster_id: str
    username: str
    role: str


class LiveSessions:
    """Who is logged in where. Tokens are random and kept only as SHA-256 digests, in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, LiveSession] = {}

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def add(self, token: str, session: LiveSession) -> None:
        with self._lock:
            self._sessions[self._digest(token)] = session

    def get(self, token: str) -> LiveSession | None:
        with self._lock:
            return self._sessions.get(self._digest(token))

    def remove(self, token: str) -> LiveSession | None:
        with self._lock:
            return self._sessions.pop(self._digest(token), None)

    def count(self, cluster_id: str, username: str) -> int:
        with self._lock:
            return sum(1 for s in self._sessions.values() if (s.cluster_id, s.username) == (cluster_id, username))
