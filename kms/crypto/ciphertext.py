"""The symmetric ciphertext blob: a versioned binary format that names its key and key material.

AWS documents the blob as opaque, with an unauthenticated-but-AAD-bound header naming the backing key
(https://docs.aws.amazon.com/kms/latest/cryptographic-details/symm-crypt.html). Ours::

    version (1) = 0x01 | id kind (1): 0 UUID, 1 mrk | account (5) | key id (16) | material id (32)
    | iv (12) | AES-GCM ct ‖ tag (16)

The AES-256-GCM additional data is the 55-byte header followed by the canonical encryption context, so a changed
header, context or body fails authentication. Decrypt reads the key and material from the header, which is why it
works without ``KeyId``, for another account's key too, and in every region of a multi-Region key (the id is
the same there).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
_UUID, _MRK = 0, 1
ACCOUNT_BYTES = 5  # a 12-digit account id is below 2**40
HEADER_BYTES = 1 + 1 + ACCOUNT_BYTES + 16 + 32
IV_BYTES = 12
TAG_BYTES = 16
OVERHEAD = HEADER_BYTES + IV_BYTES + TAG_BYTES


class MalformedCiphertext(ValueError):
    """The bytes are not a blob of this format, or they fail authentication."""


@dataclass(frozen=True)
class BlobHeader:
    account_id: str
    key_id: str
    material_id: str


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """The encryption context as AAD: order-independent, case-sensitive (spec 5.3)."""
    if not context:
        return b""
    return json.dumps(dict(sorted(context.items())), separators=(",", ":"), ensure_ascii=False).encode()


def _encode_key_id(key_id: str) -> bytes:
    if key_id.startswith("mrk-"):
        return bytes([_MRK]) + bytes.fromhex(key_id[4:])
    return bytes([_UUID]) + uuid.UUID(key_id).bytes


def _header(account_id: str, key_id: str, material_id: str) -> bytes:
    encoded = _encode_key_id(key_id)
    account = int(account_id).to_bytes(ACCOUNT_BYTES, "big")
    return bytes([VERSION]) + encoded[:1] + account + encoded[1:] + bytes.fromhex(material_id)


def read_header(blob: bytes) -> BlobHeader:
    """The key and material a blob names; :class:`MalformedCiphertext` if it cannot be one of ours."""
    if len(blob) < OVERHEAD or blob[0] != VERSION or blob[1] not in (_UUID, _MRK):
        raise MalformedCiphertext("not a KMS ciphertext blob")
    account_end = 2 + ACCOUNT_BYTES
    raw_id = blob[account_end : account_end + 16]
    key_id = f"mrk-{raw_id.hex()}" if blob[1] == _MRK else str(uuid.UUID(bytes=raw_id))
    account_id = f"{int.from_bytes(blob[2:account_end], 'big'):012d}"
    return BlobHeader(account_id=account_id, key_id=key_id, material_id=blob[account_end + 16 : HEADER_BYTES].hex())


def seal(aead: AESGCM, account_id: str, key_id: str, material_id: str, plaintext: bytes,
         context: Mapping[str, str] | None) -> bytes:
    """Encrypt ``plaintext`` under the material (``aead``) of ``account_id``'s key and return the blob."""
    header = _header(account_id, key_id, material_id)
    iv = os.urandom(IV_BYTES)
    return header + iv + aead.encrypt(iv, plaintext, header + canonical_context(context))


def open_blob(aead: AESGCM, blob: bytes, context: Mapping[str, str] | None) -> bytes:
    """The plaintext of ``blob``; :class:`MalformedCiphertext` on any tampering or context mismatch."""
    header, iv, body = blob[:HEADER_BYTES], blob[HEADER_BYTES : HEADER_BYTES + IV_BYTES], blob[HEADER_BYTES + IV_BYTES :]
    try:
        return aead.decrypt(iv, body, header + canonical_context(context))
    except InvalidTag:
        raise MalformedCiphertext("authentication failed") from None
