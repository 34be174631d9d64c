"""Applications on the PKCS#11 path (issue item 6): ``hsmsim.connect(endpoint, cluster_id, pin="user:password")``.

Design B of ``docs/pkcs11-application-path.md``. The application process loads SoftHSM itself over the server's
token directory (``SOFTHSM2_CONF`` = the server's rendered ``softhsm2.conf``), logs in to ONE ACTIVE HSM token of
the cluster (round robin per :func:`connect`, like the CloudHSM client spreads load) and does crypto locally.
Whatever creates or destroys token objects goes through the server's data plane (:mod:`hsmsim.dataplane`), which
replicates to every ACTIVE HSM and records ownership; this module never writes to the token directory (SoftHSM
itself rewrites ``token.object`` on every C_Login, as pkcs11-tool's login does).

:class:`AppSession` is shaped like python-pkcs11's ``Session`` for the common calls. Differences: ``generate_key``,
``generate_keypair`` and ``AppKey.unwrap_key`` store on the token by default (``store=True``: the server makes the
key on every HSM, ``POST …/keys/unwrap`` for an unwrap) and need a ``label``; ``CKA_ID`` is the key reference the
server picks; keys are :class:`AppKey` proxies of python-pkcs11 key objects (``key.raw``) whose ``destroy()`` goes
to the server and whose attributes cannot be set locally; ``wrap_key`` runs locally and takes AppKeys. Visibility
is cooperative: the token PIN opens every object, and :meth:`AppSession.get_key` hides the keys the user may not
use (``NoSuchKey``).

An ``AppSession`` and its keys are one python-pkcs11 session: use them from one thread at a time (one ``connect``
per thread; sessions of a process share its SoftHSM, loaded with CKF_OS_LOCKING_OK so threads are safe).

HSM changes (``docs/pkcs11-application-path.md`` §4.7, §5 "HSM churn"): when an operation fails with a token error
(ObjectHandleInvalid, GeneralError, TokenNotPresent, SessionHandleInvalid, ...) or :meth:`AppSession.refresh` finds
that the server no longer lists the session's HSM, the session re-reads the ACTIVE HSMs, moves to another one this
process sees (keys are looked up again by CKA_ID) and retries the operation once. Only when no ACTIVE HSM is
visible does it re-initialise SoftHSM (:mod:`hsmsim.pkcs11_local`: every handle of the process dies, and each
session and key notices the new epoch and opens or looks up again). :func:`connect` also re-initialises when the
server lists an ACTIVE HSM this process does not see yet (one added after the first ``connect``).

Limits: one token directory per process (python-pkcs11 keeps one library per module path, and this process must
not also hold :class:`hsmsim.hsm.SoftHSM`). Key objects kept outside their AppKey (``key.raw``) are not guarded.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import random
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Self, TypeVar

from pkcs11 import KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.defaults import DEFAULT_KEY_CAPABILITIES
from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error

from hsmsim import pkcs11_local as local
from hsmsim.cloudhsm import keytokens as kt
from hsmsim.hsm.cryptoki import CKU_USER, CryptokiError
from hsmsim.pkcs11_local import FAILOVER, AppKey, Stale
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
WRAP_DEFAULTS = {"aes": Mechanism.AES_KEY_WRAP, "rsa": Mechanism.RSA_PKCS_OAEP}
T = TypeVar("T")


_TURN = itertools.count(random.randrange(1 << 16))


class AppSession:
    """One login of a crypto user: a PKCS#11 session on one ACTIVE HSM token plus the data-plane session."""

    def __init__(self, plane: Plane, cluster_id: str, info: dict[str, Any], hsm_id: str | None = None,
                 view_ttl: float = 0.0) -> None:
        self.cluster_id, self.user, self._plane, self.view_ttl = cluster_id, info["user"], plane, view_ttl
        self._session: Any = None
        self._gen, self._lib_epoch, self.switches = 0, -1, 0
        self._apply(info)
        self._open(info, hsm_id, look_for_new=True)

    def _open(self, info: dict[str, Any], hsm_id: str | None, prefer: str | None = None,
              exclude: tuple[str, ...] = (), look_for_new: bool = False) -> None:
        """Log in to one ACTIVE HSM whose token this process sees (``prefer`` if possible, else round robin).
        Re-initialises SoftHSM first if none is visible, or (``look_for_new``) if the server lists one not seen."""
        lib = local.library(info["module"], info["softhsm_conf"])
        listed = [h for h in info["hsms"] if h["hsm_id"] not in exclude and (hsm_id is None or h["hsm_id"] == hsm_id)]
        for attempt in (0, 1):
            with local.GATE.shared():
                seen, found = local.epoch(), local.tokens(lib)
                candidates = [h for h in listed if h["serial"] in found]
                unseen = {h["serial"] for h in listed} - set(found)
                if candidates and not (attempt == 0 and look_for_new and local.worth_reinitializing(unseen)):
                    chosen = next((h for h in candidates if h["hsm_id"] == prefer), None)
                    self._login(found, chosen or candidates[next(_TURN) % len(candidates)], info["pin"], seen)
                    return
            if attempt == 0 and unseen:  # only a listed HSM this process does not see is worth a re-init
                local.reinitialize(seen, frozenset(unseen))
            else:
                break
        wanted = f"HSM {hsm_id}" if hsm_id else "any ACTIVE HSM"
        raise ClusterUnavailable(f"Cannot open {wanted} of cluster {self.cluster_id} in this process.")

    def _login(self, found: dict[str, Any], chosen: dict[str, str], pin: str, seen: int) -> None:
        try:
            session = found[chosen["serial"]].open(rw=True)
        except PKCS11Error as exc:
            raise ClusterUnavailable(f"Cannot open the token of {chosen['hsm_id']}: {exc!r}") from None
        try:
            local.STATE["ck"].login(session.handle, CKU_USER, pin.encode())
        except CryptokiError as exc:
            if exc.rv != CKR_USER_ALREADY_LOGGED_IN:  # another AppSession of this process logged in already
                session.close()
                raise ConnectError(f"Cannot log in to the token of {chosen['hsm_id']}: {exc}") from None
        self.hsm_id, self.serial = chosen["hsm_id"], chosen["serial"]
        self._session, self._lib_epoch, self._gen = session, seen, self._gen + 1

    # -- guarded PKCS#11 calls and fail-over ----------------------------------------------------------------------

    def _live(self) -> Any:
        """The python-pkcs11 session, if its handles are of the current library epoch (call under the gate)."""
        if self._session is None:
            raise ClusterUnavailable("This session is closed (or lost its HSM and found no other one).")
        if self._lib_epoch != local.epoch():
            raise Stale()
        return self._session

    def _run(self, op: Callable[[], T]) -> T:
        """``op()`` under the gate; after a token error or a re-initialisation, recover and retry once."""
        try:
            with local.GATE.shared():
                self._live()
                return op()
        except (Stale, *FAILOVER):
            if self._session is None:
                raise
            self._recover()
        with local.GATE.shared():
            self._live()
            return op()

    def _recover(self, info: dict[str, Any] | None = None) -> None:
        """Re-read the server's HSMs; stay on this HSM if it is still ACTIVE and visible, else move to another one
        (re-initialising SoftHSM only when no ACTIVE HSM is visible any more). Old handles are dropped."""
        info = info or self._plane.call("POST", "/pkcs11/connect")
        self._apply(info)
        old, self._session = self._session, None
        with local.GATE.shared():
            if old is not None and self._lib_epoch == local.epoch():  # a stale session is never closed
                with contextlib.suppress(PKCS11Error):
                    old.close()
        listed = {h["hsm_id"] for h in info["hsms"]}
        gone = () if self.hsm_id in listed else (self.hsm_id,)
        previous = self.hsm_id
        self._open(info, None, prefer=self.hsm_id, exclude=gone)
        self.switches += self.hsm_id != previous

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
        info = self._plane.call("POST", "/pkcs11/connect")
        if self._session is not None and self.hsm_id not in {h["hsm_id"] for h in info["hsms"]}:
            self._recover(info)  # the server no longer lists this session's HSM: move now
        else:
            self._apply(info)
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
        key = AppKey(entry, self)
        self._run(lambda: key.raw)  # NoSuchKey now if the token has no such object
        return key

    def generate_key(self, key_type: KeyType, key_length: int | None = None, id: bytes | None = None,
                     label: str | None = None, store: bool = True, capabilities: MechanismFlag | None = None,
                     template: dict[Any, Any] | None = None, share_with: tuple[str, ...] = ()) -> Any:
        """An AES or generic secret key on every HSM of the cluster, owned by this user (``store=False``: a local
        session object, python-pkcs11's own ``generate_key``)."""
        if not store:
            return self._run(lambda: self._live().generate_key(key_type, key_length, label=label, store=False,
                                                               capabilities=capabilities, template=template))
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

    def unwrap_key(self, wrapping_key: AppKey | str, object_class: ObjectClass, key_type: KeyType, key_data: bytes,
                   id: bytes | None = None, label: str | None = None, mechanism: Mechanism | None = None,
                   mechanism_param: Any = None, store: bool = True, capabilities: MechanismFlag | None = None,
                   template: dict[Any, Any] | None = None, share_with: tuple[str, ...] = ()) -> Any:
        """Unwrap ``key_data`` with ``wrapping_key`` (a usable key, or its reference) into a new AES or generic
        secret key, made by the server on every HSM and owned by this user (``store=False``: a local session object
        by python-pkcs11's own ``unwrap_key``). Mechanisms: AES_KEY_WRAP, AES_KEY_WRAP_PAD, RSA_PKCS_OAEP (SHA-1)."""
        if not store:
            if not isinstance(wrapping_key, AppKey):
                raise ValueError("store=False unwraps locally: pass the AppKey of the wrapping key.")
            return self._run(lambda: wrapping_key.raw.unwrap_key(
                object_class, key_type, key_data, label=label, mechanism=mechanism, mechanism_param=mechanism_param,
                store=False, capabilities=capabilities, template=template))
        if object_class != ObjectClass.SECRET_KEY or key_type not in SYMMETRIC:
            raise ValueError("Token keys are unwrapped as ObjectClass.SECRET_KEY of KeyType.AES or GENERIC_SECRET.")
        if mechanism_param is not None:
            raise ValueError("Unwrapping on the HSMs uses the mechanism's default parameters only.")
        ref = wrapping_key.ref if isinstance(wrapping_key, AppKey) else f"0x{int(wrapping_key, 16):016x}"
        if mechanism is None:
            entry = self._keys.get(ref)
            mechanism = WRAP_DEFAULTS.get(entry["type"]) if entry else None
            if mechanism is None:
                raise ValueError(f"No default unwrap mechanism for key {ref}: pass mechanism=.")
        kind = SYMMETRIC[key_type]
        body = {"wrapping_key": ref, "mechanism": Mechanism(mechanism).name, "key_type": kind,
                "wrapped_key": base64.b64encode(bytes(key_data)).decode(), "label": self._label(label, id),
                "attributes": self._attributes(kt.SECRET, kind, key_type, capabilities, template),
                "share_crypto_users": list(share_with)}
        try:
            reply = self._plane.call("POST", "/keys/unwrap", body)
        except DataPlaneError as error:
            if error.code == "KeyNotFound":
                raise NoSuchKey(str(error)) from None
            raise
        self.refresh(force=True)
        return self._local(self._keys[reply["key"]["key-reference"]])

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
        return self._run(lambda: self._live().generate_random(nbits))

    def close(self) -> None:
        """Close the PKCS#11 session (the token login ends with the process's last session) and log out."""
        session, self._session = self._session, None
        with local.GATE.shared(), contextlib.suppress(PKCS11Error):
            if session is not None and self._lib_epoch == local.epoch():  # a stale session is never closed
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
