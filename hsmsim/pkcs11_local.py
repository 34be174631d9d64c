"""The SoftHSM of an application process (:mod:`hsmsim.pkcs11_app`): loading, per-slot token enumeration,
re-initialisation behind a reader/writer gate, and :class:`AppKey`, the guarded key proxy.

One library per process, over the server's token directory (``SOFTHSM2_CONF``), initialised with
CKF_OS_LOCKING_OK. A token SoftHSM did not see when it was initialised (an HSM added later) only appears after
C_Finalize/C_Initialize (:func:`reinitialize`). Re-initialisation kills every session and object handle of the
process, and SoftHSM then hands out the same handle numbers again (``docs/pkcs11-application-path.md`` §2.3): a
stale python-pkcs11 object would silently use another key, and closing a stale session would close someone else's.
So every PKCS#11 call of an ``AppSession`` runs inside :data:`GATE` ``.shared()`` after checking that the
library's :func:`epoch` is still the one its handles come from; :func:`reinitialize` takes the gate exclusively
(waiting for calls in flight) and bumps the epoch. An :class:`AppKey` looks its object up again whenever its
session moved to another HSM or to a new epoch.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import (
    DeviceError,
    DeviceRemoved,
    GeneralError,
    KeyHandleInvalid,
    ObjectHandleInvalid,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
)

from hsmsim.cloudhsm import keytokens as kt
from hsmsim.hsm.cryptoki import Cryptoki, CryptokiError
from hsmsim.pkcs11_plane import ClusterUnavailable

_LOAD_LOCK = threading.Lock()
STATE: dict[str, Any] = {}
"""``module``, ``conf``, ``lib`` (python-pkcs11), ``ck`` (:class:`Cryptoki`), ``epoch`` and ``tried`` (serials a
re-initialisation already looked for)."""


class Gate:
    """A reader/writer lock: PKCS#11 calls share it (re-entrantly per thread), a re-initialisation excludes them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers, self._writer = 0, False
        self._mine = threading.local()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        depth = getattr(self._mine, "depth", 0)
        if not depth:
            with self._cond:
                while self._writer:
                    self._cond.wait()
                self._readers += 1
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            if not depth:
                with self._cond:
                    self._readers -= 1
                    if not self._readers:
                        self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        if getattr(self._mine, "depth", 0):
            raise RuntimeError("re-initialisation from inside a PKCS#11 call")
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


GATE = Gate()


def library(module: str, conf: str) -> Any:
    """Load SoftHSM once per process over ``conf`` with CKF_OS_LOCKING_OK; refuse a second token directory."""
    with _LOAD_LOCK:
        if STATE:
            if (STATE["module"], STATE["conf"]) != (module, conf):
                raise ClusterUnavailable(
                    f"This process already loaded {STATE['module']} over {STATE['conf']}; one token directory "
                    "per process (use another process for another simulator)."
                )
            return STATE["lib"]
        if not Path(conf).is_file():
            raise ClusterUnavailable(f"The server's SoftHSM configuration {conf} is not readable here: hsmsim.connect "
                                     "needs the simulator's data dir on this host.")
        if module in pkcs11._loaded:
            raise ClusterUnavailable(f"{module} is already loaded in this process (e.g. by hsmsim.hsm.SoftHSM); "
                                     "run the application in a process of its own.")
        os.environ["SOFTHSM2_CONF"] = conf
        try:
            lib, ck = pkcs11.lib(module), Cryptoki(module)
            ck.initialize_os_locking()  # python-pkcs11's C_Initialize(NULL) leaves SoftHSM without mutexes
        except (PKCS11Error, CryptokiError, OSError, RuntimeError) as exc:
            raise ClusterUnavailable(f"Cannot load the PKCS#11 module {module}: {exc!r}") from None
        STATE.update(module=module, conf=conf, lib=lib, ck=ck, epoch=0, tried=frozenset())
        return lib


def epoch() -> int:
    """How many times this process re-initialised SoftHSM: handles of an earlier epoch must never be used."""
    return STATE.get("epoch", 0)


def tokens(lib: Any) -> dict[str, Any]:
    """serial -> python-pkcs11 Token of every readable token (per slot: ``get_tokens()`` fails once one is gone)."""
    found = {}
    for slot in lib.get_slots():
        try:
            token = slot.get_token()
        except PKCS11Error:
            continue
        found[token.serial.decode("ascii", "replace").strip()] = token
    return found


def reinitialize(seen: int, looking_for: frozenset[str] = frozenset()) -> None:
    """C_Finalize + C_Initialize(CKF_OS_LOCKING_OK) unless another thread did since epoch ``seen``; waits for
    every PKCS#11 call in flight. Every session, login and handle of the process is gone afterwards."""
    with GATE.exclusive():
        if STATE["epoch"] != seen:
            return
        os.environ["SOFTHSM2_CONF"] = STATE["conf"]
        try:
            STATE["ck"].initialize_os_locking()
        except CryptokiError as exc:
            raise ClusterUnavailable(f"Cannot re-initialise {STATE['module']}: {exc}") from None
        finally:
            STATE["epoch"] += 1
        STATE["tried"] = looking_for


def worth_reinitializing(unseen: set[str]) -> bool:
    """Whether serials the server lists but this process does not see were not looked for already."""
    return bool(unseen - STATE.get("tried", frozenset()))


FAILOVER = (ObjectHandleInvalid, KeyHandleInvalid, GeneralError, TokenNotPresent, DeviceRemoved, DeviceError,
            SessionHandleInvalid, SessionClosed)
"""PKCS#11 errors after which a session re-reads the server's HSMs, moves if its HSM is gone, and retries once."""


class Stale(Exception):
    """The session's handles are from an earlier library epoch (:mod:`hsmsim.pkcs11_local`)."""


class AppKey:
    """A python-pkcs11 key object (``raw``) with the server's reference; ``destroy()`` goes to the server.

    ``raw`` is looked up again (by CKA_ID) whenever the session moved to another HSM or SoftHSM was re-initialised:
    use the key through its methods (each call is guarded), not through a ``raw`` kept aside."""

    __slots__ = ("_app", "_gen", "_raw", "key_class", "owner", "ref", "shared")

    def __init__(self, entry: dict[str, Any], app: Any) -> None:
        self.ref, self.owner, self.shared, self._app = entry["ref"], entry["owner"], entry["shared"], app
        self.key_class, self._raw, self._gen = entry["class"], None, -1

    @property
    def raw(self) -> Any:
        app = self._app
        if self._gen != app._gen:  # never touch a handle of an earlier session or epoch
            self._raw = None
            self._raw = app._live().get_key(object_class=kt.CLASSES[self.key_class], id=kt.key_id(self.ref))
            self._gen = app._gen
        return self._raw

    def __getattr__(self, name: str) -> Any:  # encrypt, decrypt, sign, verify, label, key_type, ...
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._app._run(lambda: getattr(self.raw, name))
        if not callable(value):
            return value
        return lambda *args, **kwargs: self._app._run(lambda: getattr(self.raw, name)(*args, **kwargs))

    def __getitem__(self, attribute: Attribute) -> Any:
        return self._app._run(lambda: self.raw[attribute])

    def __setitem__(self, attribute: Attribute, value: Any) -> None:
        raise PermissionError("Token objects change only through the server (key set-attribute).")

    def __repr__(self) -> str:
        return f"<AppKey {self.ref} {self.key_class}>"

    def wrap_key(self, key: Any, mechanism: Any = None, mechanism_param: Any = None) -> bytes:
        """Local C_WrapKey of ``key`` (an AppKey or a python-pkcs11 key; it must be extractable) with this key."""
        return self._app._run(lambda: self.raw.wrap_key(key.raw if isinstance(key, AppKey) else key,
                                                        mechanism=mechanism, mechanism_param=mechanism_param))

    def unwrap_key(self, object_class: ObjectClass, key_type: KeyType, key_data: bytes, **kwargs: Any) -> Any:
        """A new key from ``key_data`` unwrapped with this key: on every HSM, owned by the caller (see
        :meth:`hsmsim.pkcs11_app.AppSession.unwrap_key`)."""
        return self._app.unwrap_key(self, object_class, key_type, key_data, **kwargs)

    def destroy(self) -> None:
        self._app.destroy(self)
