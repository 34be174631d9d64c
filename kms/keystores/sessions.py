"""The live ``kmsuser`` session KMS holds for each connected store: one of the cluster's live sessions
(:class:`hsmsim.cloudhsm.sessions.LiveSessions`), so the CLI, the data plane and ``hsmsim.connect`` see kmsuser
logged in. Tokens only in memory; a restart logs in again (kms.keystores.connection.log_in_again)."""

from __future__ import annotations

import secrets
import threading

from hsmsim.cloudhsm.sessions import LiveSession, LiveSessions
from hsmsim.cloudhsm.users import CRYPTO_USER

KMSUSER = "kmsuser"


class KmsUserSessions:
    def __init__(self, live: LiveSessions) -> None:
        self._live = live
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    def open(self, store_id: str, cluster_id: str) -> None:
        token = secrets.token_urlsafe(32)
        self._live.add(token, LiveSession(cluster_id, KMSUSER, CRYPTO_USER))
        with self._lock:
            old = self._tokens.pop(store_id, None)
            self._tokens[store_id] = token
        if old is not None:
            self._live.remove(old)

    def close(self, store_id: str) -> None:
        with self._lock:
            token = self._tokens.pop(store_id, None)
        if token is not None:
            self._live.remove(token)

    def close_all(self) -> None:
        with self._lock:
            tokens, self._tokens = list(self._tokens.values()), {}
        for token in tokens:
            self._live.remove(token)
