"""Applications on the PKCS#11 path (issue item 6): ``hsmsim.connect(endpoint, cluster_id, pin="user:password")``.

Design B of ``docs/pkcs11-application-path.md``. The application process loads SoftHSM itself over the server's
token directory (``SOFTHSM2_CONF`` = the server's rendered ``softhsm2.conf``), logs in to ONE ACTIVE HSM token of
the cluster (round robin per :func:`connect`, like the CloudHSM client spreads load) and does crypto locally.
Whatever creates or destroys token objects goes through the server's data plane (:mod:`hsmsim.dataplane`), which
replicates to every ACTIVE HSM and records ownership; this module never writes to the token directory (SoftHSM
itself rewrites ``token.object`` on every C_Login, as pkcs11-tool's login does).

:class:`AppSession` is shaped like python-pkcs11's ``Session`` for the common calls. Differences: ``generate_key``
and ``generate_keypair`` store on the token by default (``store=True``) and need a ``label``; ``CKA_ID`` is the key
reference the server picks; keys are :class:`AppKey` proxies of python-pkcs11 key objects (``key.raw``) whose
``destroy()`` goes to the server and whose attributes cannot be set locally. Visibility is cooperative: the token
PIN opens every object, and :meth:`AppSession.get_key` hides the keys the user may not use (``NoSuchKey``).

An ``AppSession`` and its keys are one python-pkcs11 session: use them from one thread at a time (one ``connect``
per thread; sessions of a process share its SoftHSM, loaded with CKF_OS_LOCKING_OK so threads are safe).

Limits: one token directory per process (python-pkcs11 keeps one library per module path, and this process must
not also hold :class:`hsmsim.hsm.SoftHSM`); SoftHSM is never re-initialised here, so an HSM added after the
first ``connect`` of the process is not visible to it and there is no fail-over when the chosen HSM is deleted.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Self

import pkcs11
from pkcs11 import Attribute, KeyType, MechanismFlag
from pkcs11.defaults import DEFAULT_KEY_CAPABILITIES
from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error

from hsmsim.cloudhsm import keytokens as kt
from hsmsim.hsm.cryptoki import CKU_USER, Cryptoki, CryptokiError
from hsmsim.pkcs11_plane import (
    ClusterUnavailable,
    ConnectError,
    DataPlaneError,
    LoginFailed,
    NotACryptoUser,
    PinFormatError,
    Plane,
    login,
)

__all__ = ["AppKey", "AppSession", "ClusterUnavailable", "ConnectError", "DataPlaneError", "LoginFailed",
           "NotACryptoUser", "PinFormatError", "connect"]

CKR_USER_ALREADY_LOGGED_IN = 0x100
CAPABILITIES = {"encrypt": MechanismFlag.ENCRYPT, "decrypt": MechanismFlag.DECRYPT, "sign": MechanismFlag.SIGN,
                "verify": MechanismFlag.VERIFY, "wrap": MechanismFlag.WRAP, "unwrap": MechanismFlag.UNWRAP,
                "derive": MechanismFlag.DERIVE}
FLAG_NAMES = {attribute: name for name, attribute in kt.FLAGS.items()}
SYMMETRIC = {KeyType.AES: "aes", KeyType.GENERIC_SECRET: "generic-secret"}
PAIRS = {KeyType.RSA: "rsa", KeyType.EC: "ec"}


# -- the process's SoftHSM ---------------------------------------------------------------------------------------

_LOAD_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}
_TURN = itertools.count(random.randrange(1 << 16))


def _library(module: str, conf: str) -> Any:
    """Load SoftHSM once per process over ``conf`` with CKF_OS_LOCKING_OK; refuse a second token directory."""
    with _LOAD_LOCK:
        if _LOADED:
            if (_LOADED["module"], _LOADED["conf"]) != (module, conf):
                raise ClusterUnavailable(
                    f"This process already loaded {_LOADED['module']} over {_LOADED['conf']}; one token directory "
                    "per process (use another process for another simulator)."
                )
            return _LOADED["lib"]
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
        _LOADED.update(module=module, conf=conf, lib=lib, ck=ck)
        return lib


def _tokens(lib: Any) -> dict[str, Any]:
    """serial -> python-pkcs11 Token of every readable token (per slot: ``get_tokens()`` fails once one is gone)."""
    found = {}
    for slot in lib.get_slots():
        try:
            token = slot.get_token()
        except PKCS11Error:
            continue
        found[token.serial.decode("ascii", "replace").strip()] = token
    return found


class AppKey:
    """A python-pkcs11 key object (``raw``) with the server's reference; ``destroy()`` goes to the server."""

    __slots__ = ("_app", "owner", "raw", "ref", "shared")

    def __init__(self, raw: Any, entry: dict[str, Any], app: AppSession) -> None:
        self.raw, self.ref, self.owner, self.shared, self._app = raw, entry["ref"], entry["owner"], entry["shared"], app

    def __getattr__(self, name: str) -> Any:  # encrypt, decrypt, sign, verify, wrap_key, label, key_type, ...
        return getattr(self.raw, name)

    def __getitem__(self, attribute: Attribute) -> Any:
        return self.raw[attribute]

    def __setitem__(self, attribute: Attribute, value: Any) -> None:
        raise PermissionError("Token objects change only through the server (key set-attribute).")

    def __repr__(self) -> str:
        return f"<AppKey {self.ref} {self.raw!r}>"

    def destroy(self) -> None:
        self._app.destroy(self)


class AppSession:
    """One login of a crypto user: a PKCS#11 session on one ACTIVE HSM token plus the data-plane session."""

    def __init__(self, plane: Plane, cluster_id: str, info: dict[str, Any], hsm_id: str | None = None,
                 view_ttl: float = 0.0) -> None:
        self.cluster_id, self.user, self._plane, self.view_ttl = cluster_id, info["user"], plane, view_ttl
        self._session: Any = None
        self._apply(info)
        try:
            self._open(info, hsm_id)
        except PKCS11Error as exc:
            raise ClusterUnavailable(f"Cannot open an HSM token of cluster {cluster_id}: {exc!r}") from None

    def _open(self, info: dict[str, Any], hsm_id: str | None) -> None:
        """Pick one ACTIVE HSM whose token this process sees (round robin) and log in to it."""
        local = _tokens(_library(info["module"], info["softhsm_conf"]))
        candidates = [h for h in info["hsms"] if h["serial"] in local and (hsm_id is None or h["hsm_id"] == hsm_id)]
        if not candidates:
            wanted = f"HSM {hsm_id}" if hsm_id else "any ACTIVE HSM"
            raise ClusterUnavailable(f"Cannot open {wanted} of cluster {self.cluster_id} in this process (HSMs "
                                     "added after this process loaded SoftHSM are not visible: start a new one).")
        chosen = candidates[next(_TURN) % len(candidates)]
        self.hsm_id, self.serial = chosen["hsm_id"], chosen["serial"]
        session = local[self.serial].open(rw=True)
        try:
            _LOADED["ck"].login(session.handle, CKU_USER, info["pin"].encode())
        except CryptokiError as exc:
            if exc.rv != CKR_USER_ALREADY_LOGGED_IN:  # another AppSession of this process logged in already
                session.close()
                raise ConnectError(f"Cannot log in to the token of {self.hsm_id}: {exc}") from None
        self._session = session

    # -- view ----------------------------------------------------------------------------------------------------

    def _apply(self, info: dict[str, Any]) -> None:
        self._epoch, self._hsms, self._checked = info["epoch"], info["hsms"], time.monotonic()
        self._keys = {k["ref"]: k for k in info["keys"]}

    def refresh(self, force: bool = False) -> bool:
        """Re-read the usable keys if the server's view changed (``…/pkcs11/epoch``, about 4 ms; skipped within
        ``view_ttl`` seconds of the last check unless ``force``); True if it was re-read."""
        if not force:
            if time.monotonic() - self._checked < self.view_ttl:
                return False
            self._checked = time.monotonic()
            if self._plane.call("GET", "/pkcs11/epoch")["epoch"] == self._epoch:
                return False
        self._apply(self._plane.call("POST", "/pkcs11/connect"))
        return True

    def keys(self) -> list[dict[str, Any]]:
        """The keys this user may use: ``{"ref", "label", "class", "type", "owner", "shared", "pair"}``."""
        self.refresh()
        return list(self._keys.values())

    # -- python-pkcs11-shaped calls ------------------------------------------------------------------------------

    def get_key(self, object_class: Any = None, key_type: Any = None, label: str | None = None,
                id: bytes | str | None = None) -> AppKey:
        """The one usable key matching (``id`` = CKA_ID bytes or ``"0x…"`` reference); ``NoSuchKey`` otherwise."""
        self.refresh()
        ref = None if id is None else (f"0x{int.from_bytes(id, 'big'):016x}" if isinstance(id, bytes | bytearray)
                                       else f"0x{int(id, 16):016x}")
        matches = [k for k in self._keys.values()
                   if (ref is None or k["ref"] == ref) and (label is None or k["label"] == label)
                   and (object_class is None or kt.CLASSES[k["class"]] == object_class)
                   and (key_type is None or {**SYMMETRIC, **PAIRS}.get(key_type) == k["type"])]
        if not matches:
            raise NoSuchKey("No key matching the template that this user may use.")
        if len(matches) > 1:
            raise MultipleObjectsReturned("More than one usable key matches the template.")
        return self._local(matches[0])

    def _local(self, entry: dict[str, Any]) -> AppKey:
        raw = self._session.get_key(object_class=kt.CLASSES[entry["class"]], id=kt.key_id(entry["ref"]))
        return AppKey(raw, entry, self)

    def generate_key(self, key_type: KeyType, key_length: int | None = None, id: bytes | None = None,
                     label: str | None = None, store: bool = True, capabilities: MechanismFlag | None = None,
                     template: dict[Any, Any] | None = None, share_with: tuple[str, ...] = ()) -> Any:
        """An AES or generic secret key on every HSM of the cluster, owned by this user (``store=False``: a local
        session object, python-pkcs11's own ``generate_key``)."""
        if not store:
            return self._session.generate_key(key_type, key_length, label=label, store=False,
                                              capabilities=capabilities, template=template)
        if key_type not in SYMMETRIC or not key_length or key_length % 8:
            raise ValueError("Token keys are KeyType.AES or GENERIC_SECRET with a key_length in bits (multiple of 8).")
        kind = SYMMETRIC[key_type]
        body = {"key_type": kind, "label": self._label(label, id), "key_length_bytes": key_length // 8,
                "attributes": self._attributes(kt.SECRET, kind, key_type, capabilities, template),
                "share_crypto_users": list(share_with)}
        reply = self._plane.call("POST", "/keys/generate-symmetric", body)
        self.refresh(force=True)
        return self._local(self._keys[reply["key"]["key-reference"]])

    def generate_keypair(self, key_type: KeyType, key_length: int | None = None, id: bytes | None = None,
                         label: str | None = None, store: bool = True, capabilities: MechanismFlag | None = None,
                         public_template: dict[Any, Any] | None = None, private_template: dict[Any, Any] | None = None,
                         public_exponent: int = 65537, curve: str = "secp256r1",
                         share_with: tuple[str, ...] = ()) -> tuple[AppKey, AppKey]:
        """An RSA (``key_length`` bits) or EC (``curve``) key pair on every HSM; returns ``(public, private)``."""
        if key_type not in PAIRS or not store:
            raise ValueError("Token key pairs are KeyType.RSA or KeyType.EC with store=True.")
        kind, name = PAIRS[key_type], self._label(label, id)
        body: dict[str, Any] = {
            "key_type": kind, "public_label": name, "private_label": name, "share_crypto_users": list(share_with),
            "public_attributes": self._attributes(kt.PUBLIC, kind, key_type, capabilities, public_template),
            "private_attributes": self._attributes(kt.PRIVATE, kind, key_type, capabilities, private_template),
        }
        body.update({"modulus_size_bits": key_length, "public_exponent": public_exponent} if kind == "rsa"
                    else {"curve": curve})
        reply = self._plane.call("POST", "/keys/generate-asymmetric-pair", body)
        self.refresh(force=True)
        return (self._local(self._keys[reply["public_key"]["key-reference"]]),
                self._local(self._keys[reply["private_key"]["key-reference"]]))

    @staticmethod
    def _label(label: str | None, id: bytes | None) -> str:
        if id is not None:
            raise ValueError("CKA_ID is the key reference the server chooses; do not pass id.")
        if not label:
            raise ValueError("Token keys need a label (1 to 127 characters).")
        return label

    @staticmethod
    def _attributes(key_class: str, kind: str, key_type: KeyType, capabilities: MechanismFlag | None,
                    template: dict[Any, Any] | None) -> dict[str, bool]:
        """python-pkcs11's capabilities (its defaults if None) and boolean template entries as CLI attributes."""
        caps = DEFAULT_KEY_CAPABILITIES.get(key_type, 0) if capabilities is None else capabilities
        out = {name: bool(caps & flag) for name, flag in CAPABILITIES.items() if name in kt.usable(key_class, kind)}
        for attribute, value in (template or {}).items():
            if attribute not in FLAG_NAMES or not isinstance(value, bool):
                raise ValueError(f"Only boolean key attributes can be given in a template, not {attribute!r}.")
            out[FLAG_NAMES[attribute]] = value
        return out

    def destroy(self, key: AppKey | str) -> None:
        """Delete a key on every HSM (owner only: ``DataPlaneError`` with code ``AccessDenied`` otherwise)."""
        ref = key.ref if isinstance(key, AppKey) else key
        try:
            self._plane.call("DELETE", f"/keys/{urllib.parse.quote(ref, safe='')}")
        except DataPlaneError as error:
            if error.code == "KeyNotFound":
                raise NoSuchKey(str(error)) from None
            raise
        self.refresh(force=True)

    def share(self, key: AppKey | str, username: str) -> None:
        """Let another crypto user use a key this user owns (``key share``)."""
        ref = key.ref if isinstance(key, AppKey) else key
        self._plane.call("POST", f"/keys/{ref}/share", {"username": username, "role": "crypto-user"})

    def generate_random(self, nbits: int) -> bytes:
        return self._session.generate_random(nbits)

    def close(self) -> None:
        """Close the PKCS#11 session (the token login ends with the process's last session) and log out."""
        session, self._session = self._session, None
        with contextlib.suppress(PKCS11Error):
            if session is not None:
                session.close()
        with contextlib.suppress(DataPlaneError):
            if self._plane.token:
                self._plane.call("POST", "/logout")
        self._plane.token = None
        self._plane.close_connection()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AppSession {self.user}@{self.cluster_id} on {getattr(self, 'hsm_id', '?')}>"


def connect(endpoint: str, cluster_id: str, pin: str = "", hsm_id: str | None = None,
            view_ttl: float = 0.0) -> AppSession:
    """Log in as a crypto user (``pin="user:password"``) and open one ACTIVE HSM of the cluster in this process
    (``hsm_id``: that one; otherwise round robin). ``view_ttl``: see :meth:`AppSession.refresh`."""
    plane = Plane(endpoint, cluster_id)
    login(plane, pin)
    try:
        info = plane.call("POST", "/pkcs11/connect", error=ConnectError)
        return AppSession(plane, cluster_id, info, hsm_id, view_ttl)
    except BaseException:
        with contextlib.suppress(DataPlaneError):
            plane.call("POST", "/logout")
        plane.close_connection()
        raise
