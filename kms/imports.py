"""Imported key material (BYOK): import tokens, checking the material, and what deleting or expiring it does.

https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html. An import token names a
:class:`~kms.models.KmsImportToken` row (the RSA wrapping private key, wrapped by the domain key) and carries its
expiry, MAC'd with the server secret: a forged or altered token is ``InvalidImportTokenException``, an expired
one ``ExpiredImportTokenException`` even after its row was purged.

Material rows belong to ``(account, key id)`` and so are shared by every region of a multi-Region key: deleting or
expiring imported material takes it from every region (AWS tracks the import per region; the simulator cannot,
because the bytes are shared). Importing makes only the key row it was imported into Enabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kms.crypto.specs import (
    SPECS,
    KeyFamily,
    is_symmetric,
    load_private_key,
    private_key_der,
    public_key_der,
)
from kms.crypto.wrapping import is_pkcs8_der
from kms.domainkey import DomainKey
from kms.enums import ExpirationModel, ImportState, KeyMaterialState, KeySpec, KeyState
from kms.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidImportTokenException,
)
from kms.materials import materials_of, wrapping_context
from kms.metadata import family
from kms.models import KmsImportToken, KmsKey, KmsKeyMaterial
from kms.runtime import Step

IMPORT_TOKEN_LIFETIME = timedelta(hours=24)
MAX_VALIDITY = timedelta(days=365)
"""ImportKeyMaterial's ValidTo: in the future, at most 365 days from the request."""
_TOKEN_VERSION = 1
_TOKEN = struct.Struct(">B16sq")
"""version | token id (16 bytes) | valid-to (microseconds since the epoch), then a 32-byte HMAC-SHA256 tag."""
_TAG_BYTES = 32
_LOST = frozenset({KeyState.ENABLED, KeyState.DISABLED})
"""States a key leaves for PendingImport when its material goes (pending deletion stays as it is)."""
INVALID_TOKEN = "The import token is invalid or is associated with a different KMS key."
EXPIRED_TOKEN = "The import token is expired. Use GetParametersForImport to get a new import token and public key."

_PRIVATE_TYPES: dict[KeyFamily, type] = {KeyFamily.RSA: rsa.RSAPrivateKey, KeyFamily.ECC: ec.EllipticCurvePrivateKey,
                                          KeyFamily.ED25519: ed25519.Ed25519PrivateKey}
_PQC_TYPES: dict[KeySpec, type] = {
    KeySpec.ML_DSA_44: mldsa.MLDSA44PrivateKey, KeySpec.ML_DSA_65: mldsa.MLDSA65PrivateKey,
    KeySpec.ML_DSA_87: mldsa.MLDSA87PrivateKey, KeySpec.ML_KEM_768: mlkem.MLKEM768PrivateKey,
    KeySpec.ML_KEM_1024: mlkem.MLKEM1024PrivateKey,
}


# -- import tokens ---------------------------------------------------------------------------------------------


def _token_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"kms-import-tokens", hashlib.sha256).digest()


def _micros(at: datetime) -> int:
    return round(at.timestamp() * 1_000_000)


def issue_import_token(step: Step, key: KmsKey, row: KmsImportToken) -> bytes:
    """Store ``row`` (purging the key's expired tokens) and return the opaque token that names it."""
    session = step.session
    session.execute(delete(KmsImportToken).where(
        KmsImportToken.key_arn == key.arn, KmsImportToken.valid_to <= step.runtime.now()))
    session.add(row)
    body = _TOKEN.pack(_TOKEN_VERSION, bytes.fromhex(row.token_id), _micros(row.valid_to))
    return body + hmac.new(_token_key(step.runtime.secret), body, hashlib.sha256).digest()


def new_token_id() -> str:
    return secrets.token_hex(16)


def token_wrapping_context(token_id: str) -> bytes:
    return f"kms-import-token/{token_id}".encode()


def redeem_import_token(step: Step, key: KmsKey, token: bytes) -> KmsImportToken:
    """The token row for importing into ``key``, or AWS's error for a forged, expired or foreign token."""
    body, tag = token[: _TOKEN.size], token[_TOKEN.size :]
    expected = hmac.new(_token_key(step.runtime.secret), body, hashlib.sha256).digest()
    if len(token) != _TOKEN.size + _TAG_BYTES or not hmac.compare_digest(tag, expected):
        raise InvalidImportTokenException(INVALID_TOKEN)
    version, raw_id, valid_to_micros = _TOKEN.unpack(body)
    if version != _TOKEN_VERSION:
        raise InvalidImportTokenException(INVALID_TOKEN)
    if datetime.fromtimestamp(valid_to_micros / 1_000_000, UTC) <= step.runtime.now():
        raise ExpiredImportTokenException(EXPIRED_TOKEN)
    row = step.session.get(KmsImportToken, raw_id.hex())
    if row is None or row.key_arn != key.arn:
        raise InvalidImportTokenException(INVALID_TOKEN)
    return row


# -- the material itself ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedMaterial:
    material: bytes
    """What is stored: the raw bytes of a symmetric or HMAC key, the PKCS#8 DER of a private key (re-encoded
    canonically, so the same key always compares equal)."""
    public_key_der: bytes | None


def _incorrect(spec: KeySpec, why: str) -> IncorrectKeyMaterialException:
    return IncorrectKeyMaterialException(f"The key material is not valid for a {spec.value} KMS key: {why}.")


def check_material(spec: KeySpec, material: bytes) -> CheckedMaterial:
    """https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-conceptual.html#importing-keys-material-requirements
    — 256-bit AES keys, HMAC keys as long as the key spec says, private keys as DER PKCS#8 of the key spec."""
    info = SPECS[spec]
    if is_symmetric(spec):
        if len(material) != info.size:
            raise _incorrect(spec, f"it must be {info.size * 8} bits long")
        return CheckedMaterial(material, None)
    if not is_pkcs8_der(material):
        raise _incorrect(spec, "it must be a DER-encoded PKCS #8 private key")
    try:
        key = load_private_key(material)
    except (ValueError, TypeError):
        raise _incorrect(spec, "it must be a DER-encoded PKCS #8 private key") from None
    expected = _PQC_TYPES.get(spec) or _PRIVATE_TYPES.get(info.family)
    if expected is None or not isinstance(key, expected):
        raise _incorrect(spec, "it is a different type of key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size != info.size:
        raise _incorrect(spec, f"the RSA modulus must be {info.size} bits")
    if isinstance(key, ec.EllipticCurvePrivateKey) and (info.curve is None or key.curve.name != info.curve.name):
        raise _incorrect(spec, "it is on a different curve")
    return CheckedMaterial(private_key_der(key), public_key_der(key))


def fingerprint(secret: bytes, material: bytes) -> str:
    """Re-imports must bring the same bytes: compared by this HMAC, never by keeping the bytes around."""
    return hmac.new(secret, b"kms-material-fingerprint\x00" + material, hashlib.sha256).hexdigest()


def imported_material_id(secret: bytes, key: KmsKey, material: bytes) -> str:
    """AWS derives an imported material's id from the key id and the material (ImportKeyMaterial's
    ``KeyMaterialId``): 64 lower-case hex characters."""
    mac = hmac.new(secret, f"kms-material-id/{key.account_id}/{key.key_id}\x00".encode() + material, hashlib.sha256)
    return mac.hexdigest()


def store_bytes(domain_key: DomainKey, row: KmsKeyMaterial, material: bytes) -> None:
    row.wrapped = domain_key.wrap(material, wrapping_context(row.account_id, row.key_id, row.material_id))
    row.import_state = ImportState.IMPORTED


def drop_bytes(row: KmsKeyMaterial) -> None:
    """The material is gone; its id, fingerprint and history stay (a re-import must bring the same bytes)."""
    row.wrapped = None
    row.import_state = ImportState.PENDING_IMPORT
    row.expiration_model = None
    row.valid_to = None


# -- what the key looks like afterwards ------------------------------------------------------------------------


def _permanent(row: KmsKeyMaterial) -> bool:
    return row.state in (KeyMaterialState.CURRENT, KeyMaterialState.NON_CURRENT)


def settle_after_import(step: Step, key: KmsKey, now: datetime) -> None:
    """Expiry fields of every region; the key imported into becomes Enabled once all its material is there."""
    materials = materials_of(step.session, key)
    refresh_expiry(step.session, key, materials)
    permanent = [m for m in materials if _permanent(m)]
    if key.state is KeyState.PENDING_IMPORT and permanent and all(m.wrapped is not None for m in permanent):
        step.runtime.lifecycle.enter(key, KeyState.ENABLED, now)


def settle_after_loss(step: Step, key: KmsKey, materials: list[KmsKeyMaterial], at: datetime) -> None:
    """Permanent material lost its bytes: every region of the key waits for a re-import."""
    for row in family(step.session, key):
        if row.state in _LOST:
            step.runtime.lifecycle.enter(row, KeyState.PENDING_IMPORT, at)
    refresh_expiry(step.session, key, materials)


def refresh_expiry(session: Session, key: KmsKey, materials: list[KmsKeyMaterial]) -> None:
    """KeyMetadata's ExpirationModel/ValidTo and the expiry timer, from the imported material of the key."""
    imported = [m for m in materials if m.wrapped is not None and m.expiration_model is not None]
    permanent = [m for m in imported if _permanent(m)]
    model = None
    if permanent:
        expires = any(m.expiration_model is ExpirationModel.KEY_MATERIAL_EXPIRES for m in permanent)
        model = ExpirationModel.KEY_MATERIAL_EXPIRES if expires else ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE
    ends = [m.valid_to for m in imported
            if m.expiration_model is ExpirationModel.KEY_MATERIAL_EXPIRES and m.valid_to is not None]
    for row in family(session, key):
        row.expiration_model = model
        row.material_expires_at = min(ends, default=None)


def expire_imported_material(step: Step, key: KmsKey, at: datetime) -> None:
    """Timer: imported material reached its ValidTo. KMS deletes it; permanent material gone sends the key back
    to PendingImport, material pending rotation is simply dropped."""
    session = step.session
    kept: list[KmsKeyMaterial] = []
    lost = False
    for row in materials_of(session, key):
        due = (row.wrapped is not None and row.expiration_model is ExpirationModel.KEY_MATERIAL_EXPIRES
               and row.valid_to is not None and row.valid_to <= at)
        if due and row.state is KeyMaterialState.PENDING_ROTATION:
            session.delete(row)
            continue
        if due:
            drop_bytes(row)
            lost = True
        kept.append(row)
    if lost:
        settle_after_loss(step, key, kept, at)
    else:
        refresh_expiry(session, key, kept)
