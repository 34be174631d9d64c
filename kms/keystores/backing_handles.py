"""Object handles of backing keys per pooled PKCS#11 session: the hot path finds a key once per session."""

from __future__ import annotations

import threading

from pkcs11 import ObjectClass


class Handles:
    """Object handles of backing keys per pooled PKCS#11 session (sessions are not weak-referenceable: each entry
    keeps its session, so an id is never reused while the entry lives)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[tuple[int, bytes], tuple[object, object]] = {}

    def key(self, session: object, cka_id: bytes) -> object:
        entry = self._keys.get((id(session), cka_id))
        if entry is not None and entry[0] is session:
            return entry[1]
        found = session.get_key(object_class=ObjectClass.SECRET_KEY, id=cka_id)  # type: ignore[attr-defined]
        with self._lock:
            if len(self._keys) >= self.LIMIT:
                self._keys.clear()
            self._keys[(id(session), cka_id)] = (session, found)
        return found

    def drop(self, session: object, cka_id: bytes) -> None:
        with self._lock:
            self._keys.pop((id(session), cka_id), None)
