"""Start-up repair of a SoftHSM token directory: what a kill -9 at any instant can leave, made usable again.

It runs in :class:`hsmsim.hsm.SoftHSM`'s constructor *before* the PKCS#11 library is loaded and before anything
logs in, on the files alone, and it repairs instead of refusing. Measured on SoftHSM 2.6.1 (strace of
C_InitToken, C_InitPIN, C_GenerateKey and C_Initialize; /work/shared/design/softhsm-facts.md §2):

* SoftHSM never writes a file atomically. Every store of an object (``token.object`` included) is
  ``ftruncate(0)`` + ``write`` of the whole file, in place. A kill between the two leaves a **0-byte** file.
* C_InitToken creates ``<uuid>/`` and writes ``token.object`` attribute by attribute (label, serial, flags, SO-PIN
  blob); C_InitPIN then adds the user-PIN blob and the ``CKF_USER_PIN_INITIALIZED`` flag (0x8). A kill in between
  leaves a token that parses but has **no user PIN**: every C_Login of it fails with CKR_USER_PIN_NOT_INITIALIZED.
* C_GenerateKey (likewise C_CreateObject, C_UnwrapKey, C_GenerateKeyPair) creates ``<uuid>.object`` and rewrites
  it about 35 times: first once per attribute with its default value, ``CKA_TOKEN`` still false; then the
  template in one transaction (``CKA_TOKEN`` true, label, id); then, for generated, unwrapped or derived keys, the
  key value in another. Every intermediate state is a *well-formed* file, so parsing alone does not tell a
  half-made object: :func:`object_problem` also requires ``CKA_TOKEN`` true and a non-empty key value.
* C_Initialize rewrites each token's 8-byte ``generation`` file in place (same length, so only a brand-new one can
  be short).

What is done, with one log line per repair (never a PIN):

====================================================  ===============================================================
found                                                 done
====================================================  ===============================================================
a token directory without a parsable ``token.object``  moved to quarantine (a C_InitToken that never finished)
with label, serial and SO-PIN blob
a ``token.object`` without a user-PIN blob            the blob made again from the SO-PIN blob (we know both PINs:
                                                      the token master key is unwrapped with the SO PIN and wrapped
                                                      with the user PIN, exactly what C_InitPIN does), written
                                                      atomically; quarantined if the SO PIN does not unwrap it
an empty, truncated or half-made ``<uuid>.object``    replaced by the same file of a peer (a clone: a token with the
                                                      same SO-PIN blob, hence the same master key, such as another HSM
                                                      of the cluster) if the peer's is whole; otherwise moved to
                                                      quarantine with its ``.lock``
a ``generation`` file that is not 8 bytes             rewritten atomically
our own ``*.hsmsim-tmp`` leftovers                    removed (a write of ours that never reached its rename)
====================================================  ===============================================================

The quarantine is ``<tokens>/../quarantine/<UTC time>-<name>``, beside the token directory, never inside it
(SoftHSM treats every subdirectory of its tokendir as a token). Nothing is ever deleted but our own temporary files:
a person can look at, or move back, whatever was set aside. Which HSM lost what is for the caller to decide (the
simulator's reconciliation marks an HSM whose token is gone ``DEGRADED``).

Cost: one read and parse of every file, no cryptography unless a user PIN is missing (see
``scripts/bench_startup.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import objects
from . import tokenfiles as tf
from .errors import TokenFormatError

log = logging.getLogger(__name__)

CKA_CLASS, CKA_TOKEN, CKA_KEY_TYPE = 0x0, 0x1, 0x100
CKA_VALUE, CKA_MODULUS, CKA_PRIVATE_EXPONENT, CKA_EC_POINT = 0x11, 0x120, 0x123, 0x181
CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 2, 3, 4
CKK_RSA = 0
CKF_USER_PIN_INITIALIZED = 0x8
QUARANTINE = "quarantine"
_U64X2 = struct.Struct(">QQ")


@dataclass
class Report:
    """What one repair pass did (paths are where things ended up)."""

    quarantined: list[Path] = field(default_factory=list)
    repaired: list[Path] = field(default_factory=list)
    removed_temporaries: int = 0

    def __bool__(self) -> bool:
        return bool(self.quarantined or self.repaired)


_WANTED = {CKA_TOKEN, CKA_CLASS, CKA_KEY_TYPE, CKA_VALUE, CKA_MODULUS, CKA_PRIVATE_EXPONENT, CKA_EC_POINT}


def _scan(raw: bytes) -> dict[int, bytes]:
    """The attributes :func:`object_problem` needs (bool and ulong as their raw bytes, byte strings without their
    length); ValueError if the file does not follow the format to its last byte. A lean version of
    :func:`tokenfiles.parse_object`: every start reads every object file (5,000 at 1,000 HSM tokens)."""
    found: dict[int, bytes] = {}
    size, pos = len(raw), 8
    if size < 8:
        raise ValueError(f"truncated at byte {size}")
    unpack = _U64X2.unpack_from
    while pos < size:
        if pos + 17 > size:
            raise ValueError(f"truncated at byte {pos}")
        attr, kind = unpack(raw, pos)
        pos += 16
        if kind == tf.KIND_BOOL:
            length, start = 1, pos
        elif kind == tf.KIND_ULONG:
            length, start = 8, pos
        elif kind in (tf.KIND_BYTES, tf.KIND_ATTRMAP):
            length, start = int.from_bytes(raw[pos : pos + 8], "big"), pos + 8
        elif kind == tf.KIND_MECHSET:
            length, start = 8 * int.from_bytes(raw[pos : pos + 8], "big"), pos + 8
        else:
            raise ValueError(f"unknown attribute kind {kind} at byte {pos - 8}")
        if start + length > size:
            raise ValueError(f"truncated at byte {pos}")
        if attr in _WANTED:
            found[attr] = raw[start : start + length]
        pos = start + length
    return found


def object_problem(raw: bytes) -> str | None:
    """Why an object file is not a whole object SoftHSM finished writing, or None if it is."""
    if not raw:
        return "empty"
    try:
        attrs = _scan(raw)
    except ValueError as exc:
        return str(exc)
    if attrs.get(CKA_TOKEN, b"\x00") == b"\x00":  # still in SoftHSM's attribute-by-attribute initialisation
        return "half-written (CKA_TOKEN not set)"
    cls, key_type = attrs.get(CKA_CLASS), attrs.get(CKA_KEY_TYPE)
    if cls is None or len(cls) != 8:
        return "half-written (no CKA_CLASS)"
    rsa = key_type is not None and int.from_bytes(key_type, "big") == CKK_RSA
    value = {
        CKO_SECRET_KEY: CKA_VALUE,
        CKO_PRIVATE_KEY: CKA_PRIVATE_EXPONENT if rsa else CKA_VALUE,
        CKO_PUBLIC_KEY: CKA_MODULUS if rsa else CKA_EC_POINT,
    }.get(int.from_bytes(cls, "big"))
    if value is not None and not attrs.get(value):
        return "half-written (no key value)"
    return None


def _token_problem(obj: tf.ObjectFile) -> str | None:
    label, serial = obj.get_bytes(tf.CKA_OS_TOKENLABEL), obj.get_bytes(tf.CKA_OS_TOKENSERIAL)
    if label is None or len(label) != tf.LABEL_LEN or serial is None or len(serial) != tf.SERIAL_LEN:
        return "no label or serial"
    if not obj.get_bytes(tf.CKA_OS_SOPIN):
        return "no SO PIN"
    return None


# --- PIN blobs (SoftHSM's SecureDataManager; see objects.master_key) ------------------------------------------


def wrap_master_key(master: bytes, pin: bytes) -> bytes:
    """A PIN blob as SoftHSM writes it: ``salt(8) || IV(16) || AES-256-CBC("RJR" || key)`` under the PIN's key."""
    salt, iv = secrets.token_bytes(8), secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(b"RJR" + master) + padder.finalize()
    encryptor = Cipher(algorithms.AES(objects.pbe_key(salt, pin)), modes.CBC(iv)).encryptor()
    return salt + iv + encryptor.update(plain) + encryptor.finalize()


def restore_user_pin(obj: tf.ObjectFile, so_pin: bytes, user_pin: bytes) -> None:
    """Give ``token.object`` a user-PIN blob wrapping the master key the SO-PIN blob holds (TokenFormatError if
    the SO PIN does not unwrap it), and the USER_PIN_INITIALIZED flag: what C_InitPIN would have written."""
    master = objects.unwrap_pin_blob(obj.get_bytes(tf.CKA_OS_SOPIN) or b"", so_pin)
    obj.set_bytes(tf.CKA_OS_USERPIN, wrap_master_key(master, user_pin))
    for i, (a_type, kind, raw) in enumerate(obj.records):
        if a_type == tf.CKA_OS_TOKENFLAGS and kind == tf.KIND_ULONG:
            flags = int.from_bytes(raw, "big") | CKF_USER_PIN_INITIALIZED
            obj.records[i] = (a_type, kind, flags.to_bytes(8, "big"))


# --- the pass ---------------------------------------------------------------------------------------------------


class _Pass:
    def __init__(self, token_dir: Path, quarantine_dir: Path, so_pin: bytes, user_pin: bytes) -> None:
        self.token_dir, self.quarantine_dir = token_dir, quarantine_dir
        self.so_pin, self.user_pin = so_pin, user_pin
        self.stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.report = Report()

    def quarantine(self, path: Path, name: str, why: str) -> None:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        dest = self.quarantine_dir / f"{self.stamp}-{name}"
        n = 1
        while dest.exists():
            n += 1
            dest = self.quarantine_dir / f"{self.stamp}-{name}.{n}"
        os.replace(path, dest)
        self.report.quarantined.append(dest)
        log.warning("quarantined %s (%s): moved to %s", path, why, dest)

    def run(self) -> Report:
        families: defaultdict[bytes, list[Path]] = defaultdict(list)  # SO-PIN blob -> token dirs (clones)
        tokens: list[tuple[Path, bytes]] = []
        for entry in sorted(self.token_dir.iterdir()):
            if not entry.is_dir():
                continue
            so_blob = self.check_token(entry)
            if so_blob is not None:
                families[so_blob].append(entry)
                tokens.append((entry, so_blob))
        for entry, so_blob in tokens:
            self.check_objects(entry, families[so_blob])
        return self.report

    def check_token(self, entry: Path) -> bytes | None:
        """Repair or quarantine one token directory's ``token.object``; its SO-PIN blob if it stays."""
        for leftover in entry.glob(f"*{tf.TMP_SUFFIX}"):
            leftover.unlink()
            self.report.removed_temporaries += 1
        try:
            data = (entry / tf.TOKEN_OBJECT).read_bytes()
        except FileNotFoundError:
            data = None
        try:
            obj = tf.parse_object(data, str(entry / tf.TOKEN_OBJECT)) if data else None
        except TokenFormatError:
            obj = None
        problem = "no token.object" if data is None else "empty token.object" if not data else (
            "unparsable token.object" if obj is None else _token_problem(obj))
        if problem is not None or obj is None:
            self.quarantine(entry, entry.name, f"half-made token directory: {problem}")
            return None
        if not obj.get_bytes(tf.CKA_OS_USERPIN):
            try:
                restore_user_pin(obj, self.so_pin, self.user_pin)
            except TokenFormatError:
                self.quarantine(entry, entry.name, "token without a user PIN, and the SO PIN is not ours")
                return None
            tf.write_atomic(entry / tf.TOKEN_OBJECT, obj.encode())
            self.report.repaired.append(entry / tf.TOKEN_OBJECT)
            log.warning("token %s had no user PIN (a creation cut short): set it again from its SO PIN blob",
                        tf.token_serial(obj))
        generation = entry / tf.GENERATION
        if generation.exists() and generation.stat().st_size != 8:
            tf.write_atomic(generation, (1).to_bytes(8, "big"))
            self.report.repaired.append(generation)
            log.warning("rewrote the damaged generation counter of token %s", tf.token_serial(obj))
        return obj.get_bytes(tf.CKA_OS_SOPIN)

    def check_objects(self, entry: Path, family: list[Path]) -> None:
        for name in tf.object_names(entry):
            path = entry / name
            problem = object_problem(path.read_bytes())
            if problem is None:
                continue
            for peer in (p for p in family if p != entry):
                try:
                    raw = (peer / name).read_bytes()
                except FileNotFoundError:
                    continue
                if object_problem(raw) is None:
                    tf.write_atomic(path, raw)
                    self.report.repaired.append(path)
                    log.warning("object file %s was %s: copied again from the same object of clone %s",
                                path, problem, peer.name)
                    break
            else:
                self.quarantine(path, f"{entry.name}-{name}", f"object file {problem}, no clone holds it whole")
                (entry / (name[: -len(tf.OBJECT_SUFFIX)] + tf.LOCK_SUFFIX)).unlink(missing_ok=True)


def repair(token_dir: Path, so_pin: bytes, user_pin: bytes, quarantine_dir: Path | None = None) -> Report:
    """Repair ``token_dir`` in place (see the module docstring). Only call it while no process uses the tokens."""
    quarantine_dir = quarantine_dir or token_dir.parent / QUARANTINE
    started = time.perf_counter()
    report = _Pass(token_dir, quarantine_dir, so_pin, user_pin).run()
    if report:
        log.info("token repair: %d file(s) repaired, %d set aside in %s (%.0f ms)", len(report.repaired),
                    len(report.quarantined), quarantine_dir, (time.perf_counter() - started) * 1e3)
    return report
