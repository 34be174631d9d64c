"""The hot path's working copies of backing keys: one PKCS#11 *session object* per pooled session and backing key.

Measured here (SoftHSM 2.6.1): C_EncryptInit with a *token* key re-reads the token's generation and object files
(2 open, 2 read, 2 fstat and 6 fcntl locks per AES-GCM call, strace), so every Encrypt paid a dozen syscalls and
the HSM path cost ~18 µs a call against ~12.6 µs with a session object. The first use of a backing key in a pooled
session therefore makes ``C_CopyObject(CKA_TOKEN=false)`` of the token key: a copy that lives inside SoftHSM
(sensitive and non-extractable like its source, so its bytes never leave PKCS#11 either), is invisible to every
other process (pkcs11-tool, applications), and dies with its session. Nothing here holds key bytes.

Entries are keyed by the backing key id (random per KMS key, never reused), not the CKA_ID, so a stale entry can
never serve another key. A copy is destroyed only by the thread that holds its session (sessions are checked out
to one thread at a time): :meth:`Handles.forget` (the backing key was deleted) and a full cache only mark copies
as doomed, and the next :meth:`Handles.key` on that session destroys them first.
"""

from __future__ import annotations

import logging
import threading

from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import PKCS11Error

log = logging.getLogger(__name__)

_COPY_TEMPLATE = {Attribute.TOKEN: False, Attribute.LABEL: "", Attribute.ID: b""}
"""No label or CKA_ID: searches by the key reference (``hsmsim.cloudhsm.keytokens``) never see a copy."""


class Handles:
    """Session copies of backing keys per pooled PKCS#11 session. Sessions are not weak-referenceable: each entry
    keeps its session, so an ``id()`` is never reused while the entry lives."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[tuple[int, str], tuple[object, object]] = {}
        self._doomed: dict[int, tuple[object, list[object]]] = {}  # id(session) -> (session, copies to destroy)

    def key(self, session: object, backing_key_id: str, cka_id: bytes) -> object:
        """The session's copy of the token key ``cka_id`` (made on first use); PKCS11Error if the token has none."""
        entry = self._keys.get((id(session), backing_key_id))
        if entry is not None and entry[0] is session:
            return entry[1]
        self._sweep(session)
        found = session.get_key(object_class=ObjectClass.SECRET_KEY, id=cka_id)  # type: ignore[attr-defined]
        copy = found.copy(_COPY_TEMPLATE)
        with self._lock:
            if len(self._keys) >= self.LIMIT:
                for key in list(self._keys):
                    self._doom(key)
            self._keys[(id(session), backing_key_id)] = (session, copy)
        return copy

    def drop(self, session: object, backing_key_id: str) -> None:
        """The copy failed in this (held) session: destroy it; the next call makes a new one."""
        with self._lock:
            self._doom((id(session), backing_key_id))
        self._sweep(session)

    def forget(self, backing_key_id: str) -> None:
        """The backing key is gone from the cluster: its copies go too (each when its session is next used)."""
        with self._lock:
            for key in [k for k in self._keys if k[1] == backing_key_id]:
                self._doom(key)

    def forget_all(self) -> None:
        """A CloudHSM change (HSMs, keys, users): every copy goes, and is made again from the token on next use."""
        with self._lock:
            for key in list(self._keys):
                self._doom(key)

    def _doom(self, key: tuple[int, str]) -> None:  # caller holds self._lock
        entry = self._keys.pop(key, None)
        if entry is None:
            return
        if len(self._doomed) >= self.LIMIT:  # mostly sessions closed since (their objects died with them)
            self._doomed.clear()
        self._doomed.setdefault(key[0], (entry[0], []))[1].append(entry[1])

    def _sweep(self, session: object) -> None:
        """Destroy the doomed copies of ``session``, which the calling thread holds."""
        with self._lock:
            doomed = self._doomed.pop(id(session), None)
        if doomed is None:
            return
        for copy in doomed[1]:
            try:
                copy.destroy()  # type: ignore[attr-defined]
            except PKCS11Error as error:  # the session is broken: its objects die with it
                log.info("session copy of a backing key not destroyed: %r", error)
