"""
SoftHSM tokens as the simulator's HSM hardware: one ``SoftHSM`` owns the loaded PKCS#11 module, a token
directory and the PINs, and addresses every token by its serial.

Design (measured facts in /work/shared/design/softhsm-facts.md):

* Thread safety. python-pkcs11 calls ``C_Initialize(NULL)``, under which SoftHSM disables its own
  locks, and concurrent threads crash the process. Right after loading, and after every
  re-initialisation, we finalise and re-initialise with ``CKF_OS_LOCKING_OK`` (§7, ``cryptoki.py``).
* Addressing. Slot ids are index-based for tokens made in-process and serial-derived after a
  (re)start (§3), so tokens are keyed by serial in our own serial -> slot map. ``lib.get_token()``
  (a linear scan that raises once any token directory has been removed) is never used.
* Login. Login is per token and per process, and closing a logged-in python-pkcs11 session logs out
  every session of the token (§4). Each token therefore has one long-lived login session that is never
  closed; ``session()`` hands out *public* R/W sessions from a per-token pool, which share the login.
  We log in with our own C_Login on a session we own, avoiding python-pkcs11's leaked session (§4).
* Creation. ``C_InitToken`` through ctypes on the free slot, then C_InitPIN as SO (§3). A new serial
  whose slot id ``int(serial[-8:],16) & 0x7FFFFFFF`` clashes with another token's, or is small, would
  abort every later ``C_Initialize`` (§6.3): such a token is removed and the creation retried.
* Cloning, backups, replication: file-level token copies (§6.3, ``tokenfiles.py``). Clones share the
  master key and PINs; their serial and label are patched in ``token.object``. Replication copies
  object files atomically and bumps ``generation``, which a running SoftHSM notices without a restart.
  Single objects are found by ``CKA_ID`` and copied or removed the same way (``objects.py``).
* Restore needs a library re-initialisation. Measured: a token directory created on disk is invisible
  until ``C_Finalize``/``C_Initialize``, and swapping a snapshot's ``token.object`` into a freshly
  ``C_InitToken``-ed in-process token does not work either: SoftHSM keeps the PIN blobs it created in
  memory, so login succeeds with the fresh master key and every copied object fails with
  CKR_GENERAL_ERROR. Re-initialisation invalidates every session and object handle, so it runs under a
  process-wide reader/writer lock: sessions are readers and the re-initialisation waits for them.
  :attr:`SoftHSM.epoch` increases each time; callers that cache object handles must drop them when it
  changes. Tokens are logged in again lazily, on their next ``session()``.
* Object creation must not overlap C_FindObjects on the same token (SoftHSM 2.6.1 race, measured:
  the creation fails and leaves a broken object file). ``session(serial, exclusive=True)`` takes the
  token's lock exclusively for such blocks; ordinary sessions share it.
* Crash safety (issue 10). Every file we write reaches its place whole: object files and ``generation`` through a
  temporary name, fsync and rename (``tokenfiles.write_atomic``); restored tokens and snapshots are written in a
  directory SoftHSM does not scan and renamed into place (``tokenfiles.write_image``). SoftHSM's own writes
  (C_InitToken, C_InitPIN, C_GenerateKey...) truncate and rewrite files in place and cannot be made atomic by us,
  so the constructor first runs the start-up repair (``repair.py``) on the files, before the library is loaded
  and before any login: a creation cut short, a half-written object file, a torn token directory are repaired
  from the SO-PIN blob or a clone, or set aside in ``quarantine/`` beside the token directory
  (:attr:`SoftHSM.repair_report` says what was done).
* Deletion removes the token directory after closing its sessions, under that token's own
  reader/writer lock, without re-initialising: the dead slot lingers in SoftHSM until the next
  re-initialisation but is never used again (§3).

Constraints:

* One ``SoftHSM`` per process at a time. python-pkcs11 caches one ``pkcs11.lib`` per module path, and
  SoftHSM is a process-wide singleton. Several instances (e.g. one per test, each over its own token
  directory) work *sequentially*: ``close()`` finalises the library, and the next instance sets
  ``SOFTHSM2_CONF`` and initialises it again, which re-reads the configuration. Opening a second
  instance while one is open raises HSMError (opening an empty one takes about 10 ms). Nothing else in
  the process may finalise or re-initialise the module; ``lib.reinitialize()`` in particular would
  also undo the CKF_OS_LOCKING_OK fix.
* Only this process may use the token directory while it runs.
* A thread holding a ``session()`` must not call ``restore``, ``clone`` or ``close``: they
  re-initialise the library and would invalidate that session, so they raise HSMError instead.
* PINs are never logged or put into messages.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pkcs11
from pkcs11 import Attribute, TokenFlag
from pkcs11.exceptions import PKCS11Error

from . import objects, repair
from . import tokenfiles as tf
from .cryptoki import CKU_SO, CKU_USER, Cryptoki, CryptokiError
from .errors import HSMError, TokenCreationError, TokenFormatError, TokenNotFound
from .locks import RWLock

log = logging.getLogger(__name__)

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
_CKR_USER_ALREADY_LOGGED_IN = 0x100
_CREATE_ATTEMPTS = 8
_POOL_MAX = 32  # idle sessions kept per token
_UPGRADE_TIMEOUT = 30.0  # seconds a session-holding thread may wait for exclusivity


@dataclass(eq=False)
class _Token:
    """Our record of one token: where it is, its python-pkcs11 handle, its login and session pool."""

    serial: str
    label: str
    slot_id: int
    token: pkcs11.Token
    path: Path
    lock: RWLock = field(init=False)
    mutex: threading.Lock = field(default_factory=threading.Lock)
    login: pkcs11.Session | None = None
    pool: list[pkcs11.Session] = field(default_factory=list)
    deleted: bool = False

    def __post_init__(self) -> None:
        self.lock = RWLock(f"token {self.serial}")


class SoftHSM:
    """One per process. Owns the loaded PKCS#11 library, the token directory and the PINs."""

    _open: ClassVar[dict[str, SoftHSM]] = {}
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        token_dir: Path,
        conf_path: Path,
        so_pin: str,
        user_pin: str,
        module_path: str = DEFAULT_MODULE,
        quarantine_dir: Path | None = None,
    ) -> None:
        for pin in (so_pin, user_pin):
            if not 4 <= len(pin.encode("utf-8")) <= 255:
                raise HSMError("PINs must be 4 to 255 bytes long (SoftHSM's limits)")
        self._token_dir = Path(token_dir).resolve()
        self._conf_path = Path(conf_path).resolve()
        self._so_pin = so_pin.encode("utf-8")
        self._user_pin = user_pin.encode("utf-8")
        self._module_path = module_path
        self._module_key = os.path.realpath(module_path)  # one open instance per loaded library
        # Staging and trash live next to the token directory, never inside it: SoftHSM treats every
        # subdirectory of tokendir as a token when it (re)initialises.
        self._work_dir = self._token_dir.parent / f".{self._token_dir.name}.hsmsim"
        self._global = RWLock("SoftHSM")
        self._create_lock = threading.Lock()  # C_InitToken on the free slot; map/dead-slot changes
        self._tls = threading.local()  # .held: sessions the thread holds
        self._tokens: dict[str, _Token] = {}
        self._dead_slots: set[int] = set()
        self._epoch = 0
        self._master_keys: dict[bytes, bytes] = {}  # user-PIN blob -> token master key (objects.py)
        self._closed = True
        if not self._conf_path.is_file():
            raise HSMError(f"SoftHSM configuration {self._conf_path} does not exist")
        self._token_dir.mkdir(parents=True, exist_ok=True)

        with SoftHSM._open_lock:
            if self._module_key in SoftHSM._open:
                raise HSMError(f"another SoftHSM instance is open on {module_path}; close() it first")
            SoftHSM._open[self._module_key] = self
        try:
            # Before the library reads a single token file: what a kill left half-written is repaired or set
            # aside, so that nothing below (C_Initialize, the logins) meets it (repair.py).
            self.repair_report = repair.repair(self._token_dir, self._so_pin, self._user_pin, quarantine_dir)
            self._check_disk_slot_ids()
            shutil.rmtree(self._work_dir, ignore_errors=True)
            os.environ["SOFTHSM2_CONF"] = str(self._conf_path)
            self._lib = pkcs11.lib(module_path)
            self._ck = Cryptoki(module_path)
            self._ck.initialize_os_locking()
            self._closed = False
            self._rebuild()
            for t in self._tokens.values():
                self._login(t)
        except BaseException:
            self._closed = True
            self._finalize_quietly()
            with SoftHSM._open_lock:
                SoftHSM._open.pop(self._module_key, None)
            raise
        log.info("SoftHSM on %s: %d token(s) logged in", self._token_dir, len(self._tokens))

    def __repr__(self) -> str:
        return f"<SoftHSM {self._token_dir} tokens={len(self._tokens)} epoch={self._epoch}>"

    def __enter__(self) -> SoftHSM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- queries -------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Increases at every library re-initialisation; object handles from an older epoch are dead."""
        return self._epoch

    def tokens(self) -> dict[str, str]:
        """serial -> label (stripped) of every token present."""
        with self._global.read():
            self._check_open()
            return {s: t.label for s, t in self._token_list() if not t.deleted}

    def object_labels(self, serial: str) -> set[str]:
        """Labels of all objects of a token (private included), for tests and diagnostics."""
        with self.session(serial) as s:
            return set(_labels(s))

    # --- sessions ------------------------------------------------------------------------------

    @contextmanager
    def session(self, serial: str, *, exclusive: bool = False) -> Iterator[pkcs11.Session]:
        """A public R/W session on the (logged-in) token, for the calling thread only.

        Sessions come from a per-token pool and go back to it afterwards; a session whose block raised
        is closed instead, in case the error left it unusable. Do not keep the session, or objects
        found through it, beyond the block. Never call ``close()`` on it.

        Pass ``exclusive=True`` for any block that creates token objects (generate, create, unwrap,
        derive or copy with CKA_TOKEN=True): it waits for, and keeps out, every other session on this
        token. Measured on SoftHSM 2.6.1: a token-object creation that overlaps a C_FindObjects on the
        same token in another thread fails in about one case in four (GeneralError, sometimes
        TemplateInconsistent or FunctionFailed) *and leaves a half-written, label-less object file
        behind*. Crypto with existing objects, C_SetAttributeValue, C_DestroyObject and session
        objects were not affected.
        """
        # The locks are taken and released directly, not as nested context managers: this is the hot path of
        # every HSM-backed KMS request, and each generator-based ``with`` costs about a microsecond.
        self._global.acquire_read()
        try:
            self._check_open()
            t = self._get(serial)
            if exclusive:
                t.lock.acquire_write(allow_upgrade=True, timeout=self._upgrade_timeout())
            else:
                t.lock.acquire_read()
            try:
                if t.deleted:
                    raise TokenNotFound(serial)
                s = self._checkout(t)
                ok = False
                self._tls.held = getattr(self._tls, "held", 0) + 1
                try:
                    yield s
                    ok = True
                finally:
                    self._tls.held -= 1
                    self._checkin(t, s, ok)
            finally:
                if exclusive:
                    t.lock.release_write()
                else:
                    t.lock.release_read()
        finally:
            self._global.release_read()

    def _checkout(self, t: _Token) -> pkcs11.Session:
        with t.mutex:
            if t.login is None:
                self._login(t)
            if t.pool:
                return t.pool.pop()
        return t.token.open(rw=True)

    def _checkin(self, t: _Token, s: pkcs11.Session, ok: bool) -> None:
        if ok and not t.deleted:
            with t.mutex:
                if len(t.pool) < _POOL_MAX:
                    t.pool.append(s)
                    return
        _close_quietly(s)

    def _login(self, t: _Token) -> None:
        """Open the token's long-lived login session (caller holds ``t.mutex`` or is exclusive)."""
        s = t.token.open(rw=True)
        try:
            self._ck.login(s.handle, CKU_USER, self._user_pin)
        except CryptokiError as exc:
            if exc.rv != _CKR_USER_ALREADY_LOGGED_IN:
                _close_quietly(s)
                raise HSMError(f"cannot log in to token {t.serial}: {exc}") from None
        t.login = s

    # --- creation and deletion -----------------------------------------------------------------

    def create_token(self, label: str) -> str:
        """A new empty token (in-process C_InitToken + C_InitPIN, no re-initialisation); its serial."""
        label32 = _label32(label)
        started = time.perf_counter()
        with self._global.read(), self._create_lock:
            self._check_open()
            for _ in range(_CREATE_ATTEMPTS):
                slot_id, path, created = -1, None, False
                try:
                    slot_id = self._free_slot()
                    self._ck.init_token(slot_id, self._so_pin, label32)
                    created = True
                    tok = _token_of_slot(self._lib, slot_id)
                    serial = tok.serial.decode("ascii").strip()
                    path = self._dir_of(serial)
                    taken = {tf.slot_id_of(s) for s, _ in self._token_list()}
                    if not tf.acceptable_serial(serial, taken):
                        log.info("token serial %s gives a clashing slot id; retrying", serial)
                        self._discard_new(slot_id, path)
                        continue
                    self._init_user_pin(tok)
                    t = _Token(serial, tok.label.strip(), slot_id, tok, path)
                    self._login(t)
                except (HSMError, PKCS11Error, OSError) as exc:
                    if created:
                        self._discard_new(slot_id, path)
                    raise TokenCreationError(f"cannot create token {label!r}: {_describe(exc)}") from exc
                self._tokens[serial] = t
                log.info("created token %s %r in %.1f ms", serial, t.label,
                         (time.perf_counter() - started) * 1e3)
                return serial
        raise TokenCreationError(f"no acceptable serial after {_CREATE_ATTEMPTS} attempts")

    def _free_slot(self) -> int:
        known = {t.slot_id for _, t in self._token_list()} | self._dead_slots
        for slot in self._lib.get_slots():
            if slot.slot_id in known:
                continue
            try:
                tok = slot.get_token()
            except PKCS11Error:  # a token whose directory was removed: GeneralError (§3)
                self._dead_slots.add(slot.slot_id)
                continue
            if not tok.flags & TokenFlag.TOKEN_INITIALIZED:
                return slot.slot_id
        raise HSMError("SoftHSM offers no free slot")

    def _init_user_pin(self, tok: pkcs11.Token) -> None:
        s = tok.open(rw=True)
        try:
            self._ck.login(s.handle, CKU_SO, self._so_pin)
            s.init_pin(self._user_pin.decode("utf-8"))
            self._ck.logout(s.handle)
        finally:
            _close_quietly(s)

    def _discard_new(self, slot_id: int, path: Path | None) -> None:
        """Forget a half-made token: close its sessions, remove its directory, never reuse its slot."""
        try:
            self._ck.close_all_sessions(slot_id)
        except CryptokiError as exc:
            log.debug("best-effort cleanup: %s", exc)  # the token or library is going away anyway
        self._dead_slots.add(slot_id)
        if path is None:
            try:
                path = self._dir_of(_token_of_slot(self._lib, slot_id).serial.decode().strip())
            except (HSMError, PKCS11Error, OSError):
                return
        tf.remove_tree(path, self._work_dir)

    @contextmanager
    def _exclusive(self, serial: str) -> Iterator[_Token]:
        """The live token ``serial``, held under the global read lock and its own exclusive lock."""
        with self._global.read():
            self._check_open()
            t = self._get(serial)
            with t.lock.write(allow_upgrade=True, timeout=self._upgrade_timeout()):
                if t.deleted:
                    raise TokenNotFound(serial)
                yield t

    def delete_token(self, serial: str) -> None:
        """Close the token's sessions and remove its directory. TokenNotFound if unknown."""
        with self._exclusive(serial) as t:
            t.deleted = True
            with self._create_lock:  # create_token reads the map and the dead slots
                self._tokens.pop(serial, None)
                self._dead_slots.add(t.slot_id)
            with t.mutex:
                pool, t.pool, t.login = t.pool, [], None
            for s in pool:
                _close_quietly(s)
            try:
                self._ck.close_all_sessions(t.slot_id)  # also ends the login
            except CryptokiError as exc:
                log.debug("best-effort cleanup: %s", exc)  # the token or library is going away anyway
            tf.remove_tree(t.path, self._work_dir)
        log.info("deleted token %s", serial)

    # --- snapshots, restore, clones, replication ----------------------------------------------

    def snapshot(self, serial: str, dest: Path) -> None:
        """A consistent copy of the token directory at ``dest`` (which must not exist).

        Taken under the token's exclusive lock (in-flight sessions on it finish first), validated,
        written to a temporary sibling of ``dest`` and renamed into place.
        """
        dest = Path(dest)
        if dest.exists():
            raise HSMError(f"snapshot destination {dest} already exists")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._exclusive(serial) as t:
            try:
                image = tf.load_image(t.path)
            except TokenFormatError as exc:
                raise HSMError(f"token {serial} cannot be snapshotted: {exc}") from exc
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            tf.write_image(image, tmp)
            if dest.exists():
                raise HSMError(f"snapshot destination {dest} already exists")
            os.rename(tmp, dest)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                raise HSMError(f"cannot write snapshot {dest}: {exc}") from exc
            raise

    def restore(self, snapshot: Path, label: str) -> str:
        """A new token, with a new unique serial and ``label``, holding the snapshot's objects.

        The token is usable in this process when this returns. This re-initialises the library (see
        the module docstring): it waits for every session to end and bumps :attr:`epoch`.
        """
        label32 = _label32(label)
        started = time.perf_counter()
        try:
            image = tf.load_image(Path(snapshot))
        except TokenFormatError as exc:
            raise TokenCreationError(f"invalid snapshot {snapshot}: {exc}") from exc
        with self._global.write(allow_upgrade=False):
            self._check_open()
            self._work_dir.mkdir(parents=True, exist_ok=True)
            taken = {tf.slot_id_of(s) for s in tf.scan_token_dirs(self._token_dir)}
            taken |= {tf.slot_id_of(s) for s in self._tokens}
            name, serial = tf.new_token_dirname(taken)
            image.token_object.set_bytes(tf.CKA_OS_TOKENSERIAL, serial.encode("ascii"))
            image.token_object.set_bytes(tf.CKA_OS_TOKENLABEL, label32)
            staged, final = self._work_dir / name, self._token_dir / name
            installed = False
            try:
                tf.write_image(image, staged)
                os.rename(staged, final)
                installed = True
                self._reinitialize()
                t = self._tokens.get(serial)
                if t is None:
                    raise HSMError("SoftHSM did not load the restored token")
                self._login(t)
                self._verify_objects(t, len(image.objects))
            except (HSMError, PKCS11Error, OSError) as exc:
                shutil.rmtree(staged, ignore_errors=True)
                if installed:
                    tf.remove_tree(final, self._work_dir)
                    try:
                        self._reinitialize()
                    except HSMError:
                        log.exception("re-initialisation after a failed restore failed")
                raise TokenCreationError(f"cannot restore {snapshot}: {_describe(exc)}") from exc
        log.info("restored token %s %r (%d objects) in %.1f ms", serial, label, len(image.objects),
                 (time.perf_counter() - started) * 1e3)
        return serial

    def _verify_objects(self, t: _Token, expected: int) -> None:
        """Read every object's label: this decrypts private attributes, proving the master key."""
        s = t.token.open(rw=True)
        try:
            labels = _labels(s)
        finally:
            _close_quietly(s)
        if len(labels) != expected:
            raise HSMError(f"restored token shows {len(labels)} objects, expected {expected}")

    def clone(self, serial: str, label: str) -> str:
        """A new token restored from the live token ``serial`` (snapshot to a temporary dir + restore)."""
        self._work_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._work_dir / f"clone-{uuid.uuid4().hex}"
        try:
            self.snapshot(serial, tmp)
            return self.restore(tmp, label)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def replicate(self, source: str, targets: Iterable[str]) -> None:
        """Make each target's set of objects identical to the source's. Only valid between clones.

        Changed or new object files are copied atomically (temp + rename), removed ones are deleted and
        ``generation`` is bumped, so this process and any other one see the change at once. The source
        is read under its exclusive lock, each target written under its own.
        """
        target_list = list(dict.fromkeys(s for s in targets if s != source))
        with self._global.read():
            self._check_open()
            src = self._get(source)
            dests = [self._get(s) for s in target_list]
            timeout = self._upgrade_timeout()
            try:
                with src.lock.write(allow_upgrade=True, timeout=timeout):
                    image = tf.load_image(src.path)
                for t in dests:
                    with t.lock.write(allow_upgrade=True, timeout=timeout):
                        if t.deleted:
                            raise TokenNotFound(t.serial)
                        _apply_image(image, t.path, t.serial)
            except OSError as exc:
                raise HSMError(f"cannot replicate {source}: {exc}") from exc

    def object_ids(self, serial: str) -> set[bytes]:
        """CKA_ID of every object the running SoftHSM serves from the token (PKCS#11; objects without one skipped)."""
        with self.session(serial) as s:
            search = s.get_objects()
            try:
                return {bytes(o[Attribute.ID]) for o in search}
            finally:
                search.close()

    def object_index(self, serial: str) -> dict[str, bytes | None]:
        """Object file name -> CKA_ID of every object of the token, read from its files (``objects.py``)."""
        with self._global.read():
            self._check_open()
            t = self._get(serial)
            image = self._read_image(t)
        return objects.index(image, self._master_key(image))

    def copy_objects(self, source: str, target: str, ids: Iterable[bytes]) -> int:
        """Copy the objects whose CKA_ID is in ``ids`` from ``source`` to ``target`` (clones only), as files.

        Same rules as :meth:`replicate`: the source is read under its exclusive lock, the target written under
        its own, atomically, and ``generation`` bumped. Returns how many object files were added or changed.
        """
        wanted = set(ids)
        with self._global.read():
            self._check_open()
            src, dst = self._get(source), self._get(target)
            image = self._read_image(src)
            names = [n for n, i in objects.index(image, self._master_key(image)).items() if i in wanted]
            with dst.lock.write(allow_upgrade=True, timeout=self._upgrade_timeout()):
                if dst.deleted:
                    raise TokenNotFound(target)
                try:
                    objects.check_clone(image, dst.path, target)
                    existing = set(tf.object_names(dst.path))
                    copied = sum(objects.install(dst.path, n, image.objects[n], existing) for n in names)
                    if copied:
                        tf.bump_generation(dst.path)
                except OSError as exc:
                    raise HSMError(f"cannot copy objects from {source} to {target}: {exc}") from exc
        return copied

    def remove_objects(self, serial: str, ids: Iterable[bytes]) -> int:
        """Remove the objects whose CKA_ID is in ``ids`` from the token (files, under its exclusive lock)."""
        unwanted = set(ids)
        with self._exclusive(serial) as t:
            try:
                image = tf.load_image(t.path)
                index = objects.index(image, self._master_key(image))
                removed = sum(objects.drop(t.path, n) for n, i in index.items() if i in unwanted)
                if removed:
                    tf.bump_generation(t.path)
            except (OSError, TokenFormatError) as exc:
                raise HSMError(f"cannot remove objects from {serial}: {exc}") from exc
        return removed

    def _read_image(self, t: _Token) -> tf.TokenImage:
        """The token's files, read under its exclusive lock (caller holds the global read lock)."""
        with t.lock.write(allow_upgrade=True, timeout=self._upgrade_timeout()):
            if t.deleted:
                raise TokenNotFound(t.serial)
            try:
                return tf.load_image(t.path)
            except TokenFormatError as exc:
                raise HSMError(f"cannot read token {t.serial}: {exc}") from exc

    def _master_key(self, image: tf.TokenImage) -> bytes:
        blob = image.token_object.get_bytes(tf.CKA_OS_USERPIN) or b""
        key = self._master_keys.get(blob)
        if key is None:
            try:
                key = objects.master_key(image.token_object, self._user_pin)
            except TokenFormatError as exc:
                raise HSMError(f"token {image.serial}: {exc}") from exc
            self._master_keys[blob] = key
        return key

    # --- re-initialisation and bookkeeping -----------------------------------------------------

    def _reinitialize(self) -> None:
        """C_Finalize + C_Initialize(CKF_OS_LOCKING_OK), then rebuild the serial map (global write held)."""
        for t in self._tokens.values():
            t.deleted, t.pool, t.login = True, [], None  # their handles die with C_Finalize
        self._tokens = {}
        os.environ["SOFTHSM2_CONF"] = str(self._conf_path)
        self._ck.initialize_os_locking()
        self._dead_slots = set()
        self._rebuild()

    def _rebuild(self) -> None:
        dirs = tf.scan_token_dirs(self._token_dir)
        tokens: dict[str, _Token] = {}
        for slot in self._lib.get_slots():
            try:
                tok = slot.get_token()
            except PKCS11Error:
                continue
            if not tok.flags & TokenFlag.TOKEN_INITIALIZED:
                continue
            serial = tok.serial.decode("ascii", "replace").strip()
            if serial not in dirs:
                log.warning("token %s has no directory under %s; ignored", serial, self._token_dir)
                continue
            tokens[serial] = _Token(serial, tok.label.strip(), slot.slot_id, tok, dirs[serial])
        self._tokens = tokens
        self._epoch += 1

    def _check_disk_slot_ids(self) -> None:
        """Refuse a token directory whose serials would abort C_Initialize (softhsm-facts.md §6.3)."""
        serials = [serial for serial, _ in tf.list_token_dirs(self._token_dir)]
        seen: dict[int, str] = {}
        free_slot_id = len(serials)
        for serial in serials:
            try:
                sid = tf.slot_id_of(serial)
            except ValueError:
                raise HSMError(f"token serial {serial!r} is not hexadecimal") from None
            if sid in seen or sid == free_slot_id:
                raise HSMError(
                    f"tokens {seen.get(sid, 'free slot')} and {serial} share slot id {sid}; "
                    "SoftHSM would abort"
                )
            seen[sid] = serial

    def _dir_of(self, serial: str) -> Path:
        for entry in self._token_dir.iterdir():
            if tf.serial_of_dirname(entry.name) == serial and (entry / tf.TOKEN_OBJECT).exists():
                return entry
        dirs = tf.scan_token_dirs(self._token_dir)
        if serial in dirs:
            return dirs[serial]
        raise HSMError(f"no directory for token {serial} under {self._token_dir}")

    def _token_list(self) -> list[tuple[str, _Token]]:
        """A copy of the serial map: create/delete may change it while we iterate (both hold only the
        global read side); ``list(dict.items())`` copies atomically under the GIL."""
        return list(self._tokens.items())

    def _get(self, serial: str) -> _Token:
        t = self._tokens.get(serial)
        if t is None or t.deleted:
            raise TokenNotFound(serial)
        return t

    def _check_open(self) -> None:
        if self._closed:
            raise HSMError("this SoftHSM instance is closed")

    def _upgrade_timeout(self) -> float | None:
        """A thread holding sessions that waits for exclusivity might deadlock: bound its wait."""
        return _UPGRADE_TIMEOUT if getattr(self._tls, "held", 0) else None

    def close(self) -> None:
        """End every session and finalise the library; a new instance may then be opened."""
        with self._global.write(allow_upgrade=False):
            if self._closed:
                return
            self._closed = True
            for t in self._tokens.values():
                t.deleted, t.pool, t.login = True, [], None
            self._tokens = {}
            self._finalize_quietly()
            shutil.rmtree(self._work_dir, ignore_errors=True)
        with SoftHSM._open_lock:
            if SoftHSM._open.get(self._module_key) is self:
                del SoftHSM._open[self._module_key]

    def _finalize_quietly(self) -> None:
        lib = getattr(self, "_lib", None)
        try:
            if lib is not None:
                lib.finalize()  # C_Finalize, and python-pkcs11 learns it must initialise again
        except PKCS11Error as exc:
            log.debug("best-effort cleanup: %s", exc)  # the token or library is going away anyway
        ck = getattr(self, "_ck", None)
        if ck is not None:
            try:
                ck.finalize()
            except CryptokiError as exc:
                log.debug("best-effort cleanup: %s", exc)  # the token or library is going away anyway


def _apply_image(image: tf.TokenImage, path: Path, serial: str) -> None:
    """Make the object files under ``path`` equal to ``image``'s; bump generation if anything changed."""
    objects.check_clone(image, path, serial)
    existing = set(tf.object_names(path))
    changed = False
    for name, raw in image.objects.items():
        changed |= objects.install(path, name, raw, existing)
    for name in existing - image.objects.keys():
        changed |= objects.drop(path, name)
    if changed:
        tf.bump_generation(path)


def _token_of_slot(lib: pkcs11.lib, slot_id: int) -> pkcs11.Token:
    for slot in lib.get_slots():
        if slot.slot_id == slot_id:
            return slot.get_token()
    raise HSMError(f"slot {slot_id} disappeared")


def _label32(label: str) -> bytes:
    try:
        return tf.encode_label(label)
    except ValueError as exc:
        raise TokenCreationError(str(exc)) from None


def _labels(s: pkcs11.Session) -> list[str]:
    """Labels of every object visible to the session; the search is always finalised here."""
    search = s.get_objects()
    try:
        return [o[Attribute.LABEL] for o in search]
    finally:
        search.close()


def _describe(exc: BaseException) -> str:
    """python-pkcs11 errors often have an empty message: name the class too."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_quietly(s: pkcs11.Session) -> None:
    try:
        s.close()
    except PKCS11Error as exc:
        log.debug("best-effort cleanup: %s", exc)  # the token or library is going away anyway
