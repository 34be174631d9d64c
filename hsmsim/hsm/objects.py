"""Single objects of a token directory: which object file holds which ``CKA_ID``, and object-level file edits.

Replication (:meth:`hsmsim.hsm.SoftHSM.replicate`) copies whole token images; drift repair
(:mod:`hsmsim.cloudhsm.drift`) needs to copy or remove *single* objects, chosen by their ``CKA_ID``. Every
object of a cluster has the same file name on every HSM (tokens are file-level clones and objects travel as
files), but the file name says nothing about the object, and SoftHSM does not store ``CKA_ID`` in clear:

* Measured (SoftHSM 2.6.1): in a private object (``CKA_PRIVATE`` = true, which every key of an HSM user is) each
  byte-string attribute -- label, ``CKA_ID``, key material -- is stored encrypted, as ``IV || AES-256-CBC(value,
  PKCS#7 padding)`` under the token's master key (SoftHSM's ``SecureDataManager::encrypt``). Booleans and
  integers stay in clear. Public objects store every attribute in clear.
* The master key is in ``token.object``: the user-PIN blob is ``salt(8) || IV(16) || AES-256-CBC("RJR" ||
  key)`` under a key derived from the user PIN with SoftHSM's ``RFC4880::PBEDeriveKey``: SHA-256 over salt ||
  PIN, then re-hashed until ``1500 + salt[7]`` hashes were made in all. The "RJR" magic proves the right PIN.

So :func:`index` decrypts ``CKA_ID`` -- and nothing else: key values are never decrypted -- which gives the
per-object listing keyed by object file that single-object copies need, like the CloudHSM appliance user, which
can hash objects and extract/insert them masked but never sees key material. Clones share the master key
(:meth:`SoftHSM.restore`), so one derivation serves every token of a cluster.

File edits follow :func:`install` / :func:`drop` (also used by whole-image replication): new files are written
atomically with their ``.lock`` companion; a changed file gets a leading counter above the target's so a running
SoftHSM reloads it; the caller bumps ``generation`` once so SoftHSM re-indexes the directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import tokenfiles as tf
from .errors import HSMError, TokenFormatError

CKA_PRIVATE = 0x2
CKA_ID = 0x102
_MAGIC = b"RJR"
_PBE_BASE_ITERATIONS = 1500
_BLOCK = 16


def master_key(token_object: tf.ObjectFile, user_pin: bytes) -> bytes:
    """The token's 256-bit master key, unwrapped from the user-PIN blob. TokenFormatError if the PIN is wrong."""
    return unwrap_pin_blob(token_object.get_bytes(tf.CKA_OS_USERPIN) or b"", user_pin)


def pbe_key(salt: bytes, pin: bytes) -> bytes:
    """SoftHSM's ``RFC4880::PBEDeriveKey``: SHA-256 over salt || PIN, re-hashed to ``1500 + salt[7]`` hashes."""
    digest = hashlib.sha256(salt + pin).digest()
    for _ in range(_PBE_BASE_ITERATIONS + salt[-1] - 1):
        digest = hashlib.sha256(digest).digest()
    return digest


def unwrap_pin_blob(blob: bytes, pin: bytes) -> bytes:
    """The master key inside a PIN blob (user or SO). TokenFormatError if the PIN does not unwrap it."""
    if len(blob) < 8 + 2 * _BLOCK:
        raise TokenFormatError("token.object: PIN blob too short")
    salt, iv, sealed = blob[:8], blob[8 : 8 + _BLOCK], blob[8 + _BLOCK :]
    plain = _cbc_decrypt(pbe_key(salt, pin), iv, sealed)
    if plain is None or plain[:3] != _MAGIC or len(plain) != 3 + 32:
        raise TokenFormatError("token.object: the PIN does not unwrap the token key")
    return plain[3:]


def _cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes | None:
    if not data or len(data) % _BLOCK:
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def _is_private(obj: tf.ObjectFile) -> bool:
    """CKA_PRIVATE as SoftHSM reads it (absent means private, the PKCS#11 default for keys)."""
    for a_type, kind, raw in obj.records:
        if a_type == CKA_PRIVATE and kind == tf.KIND_BOOL:
            return raw != b"\x00"
    return True


def object_id(obj: tf.ObjectFile, key: bytes) -> bytes | None:
    """The object's CKA_ID (``b""`` if it has an empty one); None if it has none or it cannot be decrypted."""
    stored = obj.get_bytes(CKA_ID)
    if stored is None or not stored or not _is_private(obj):
        return stored
    return _cbc_decrypt(key, stored[:_BLOCK], stored[_BLOCK:])


def index(image: tf.TokenImage, key: bytes) -> dict[str, bytes | None]:
    """Object file name -> CKA_ID of every object of a token image."""
    return {
        name: object_id(tf.parse_object(raw, name), key) for name, raw in image.objects.items()
    }


# --- file edits (shared with whole-image replication) -------------------------------------------------------


def check_clone(image: tf.TokenImage, path: Path, serial: str) -> None:
    """Refuse to copy objects between tokens that do not share the master key (their PIN blobs differ)."""
    target = tf.read_object(path / tf.TOKEN_OBJECT)
    if not any(image.token_object.get_bytes(a) == target.get_bytes(a) for a in (tf.CKA_OS_SOPIN, tf.CKA_OS_USERPIN)):
        raise HSMError(f"token {serial} is not a clone of {image.serial}: refusing to copy objects")


def _lock_name(name: str) -> str:
    return name[: -len(tf.OBJECT_SUFFIX)] + tf.LOCK_SUFFIX


def install(path: Path, name: str, raw: bytes, existing: set[str]) -> bool:
    """Put object file ``name`` with contents ``raw`` into the token at ``path``; False if it was there already."""
    dest = path / name
    if name in existing:
        current = dest.read_bytes()
        if current[8:] == raw[8:]:
            return False
        # A running SoftHSM reloads an object only when its leading counter changes.
        old_gen = int.from_bytes(current[:8], "big") if len(current) >= 8 else 0
        new_gen = max(int.from_bytes(raw[:8], "big"), old_gen + 1)
        raw = new_gen.to_bytes(8, "big") + raw[8:]
    else:
        tf.touch(path / _lock_name(name))
    tf.write_atomic(dest, raw)
    return True


def drop(path: Path, name: str) -> bool:
    """Remove object file ``name`` (and its lock file) from the token at ``path``; False if it was not there."""
    try:
        (path / name).unlink()
    except FileNotFoundError:
        return False
    (path / _lock_name(name)).unlink(missing_ok=True)
    return True
