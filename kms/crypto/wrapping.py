"""Unwrapping imported key material (BYOK): the RSA wrapping key pair and the wrapping algorithms.

https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-get-public-key-and-token.html — the caller
encrypts its key material under the RSA public key GetParametersForImport returned:

* ``RSAES_OAEP_SHA_1`` / ``RSAES_OAEP_SHA_256``: RSA-OAEP (MGF1 with the same hash, no label) of the material.
* ``RSA_AES_KEY_WRAP_SHA_1`` / ``RSA_AES_KEY_WRAP_SHA_256``: an ephemeral AES key encrypted with RSA-OAEP, followed
  by the material wrapped under that AES key with AES key wrap with padding (RFC 5649, PKCS#11
  ``CKM_RSA_AES_KEY_WRAP``). The RSA part is exactly as long as the modulus.

``RSAES_PKCS1_V1_5`` is not here: KMS stopped accepting it on 2023-10-10, so no import token is ever issued for it.
``SM2PKE`` exists only in the China Regions. Pure functions, no I/O.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
)

from kms.enums import WrappingAlgorithm, WrappingKeySpec

WRAPPING_KEY_BITS = {WrappingKeySpec.RSA_2048: 2048, WrappingKeySpec.RSA_3072: 3072, WrappingKeySpec.RSA_4096: 4096}
_OAEP_HASH = {
    WrappingAlgorithm.RSAES_OAEP_SHA_1: hashes.SHA1,
    WrappingAlgorithm.RSAES_OAEP_SHA_256: hashes.SHA256,
    WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_1: hashes.SHA1,
    WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256: hashes.SHA256,
}
_KEY_WRAP = frozenset({WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_1, WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256})
_AES_KEY_BYTES = frozenset({16, 24, 32})
SUPPORTED_ALGORITHMS = frozenset(_OAEP_HASH)


class UnwrapError(ValueError):
    """The encrypted key material does not decrypt under the wrapping key with the algorithm."""


def generate_wrapping_key(spec: WrappingKeySpec) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS[spec])


def _oaep(algorithm: WrappingAlgorithm) -> padding.OAEP:
    digest = _OAEP_HASH[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def unwrap_material(private_key: rsa.RSAPrivateKey, algorithm: WrappingAlgorithm, encrypted: bytes) -> bytes:
    """The plaintext key material of ``encrypted``; :class:`UnwrapError` if it does not decrypt."""
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise UnwrapError(f"unsupported wrapping algorithm {algorithm.value}")
    if algorithm not in _KEY_WRAP:
        return _rsa_decrypt(private_key, algorithm, encrypted)
    split = private_key.key_size // 8
    if len(encrypted) <= split:
        raise UnwrapError("the encrypted key material is too short for RSA-AES key wrap")
    aes_key = _rsa_decrypt(private_key, algorithm, encrypted[:split])
    if len(aes_key) not in _AES_KEY_BYTES:
        raise UnwrapError("the ephemeral key is not an AES key")
    try:
        return aes_key_unwrap_with_padding(aes_key, encrypted[split:])
    except (InvalidUnwrap, ValueError):
        raise UnwrapError("the wrapped key material fails AES key unwrap") from None


def _rsa_decrypt(private_key: rsa.RSAPrivateKey, algorithm: WrappingAlgorithm, ciphertext: bytes) -> bytes:
    try:
        return private_key.decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise UnwrapError("the ciphertext does not decrypt under the wrapping key") from None


def is_pkcs8_der(material: bytes) -> bool:
    """Whether ``material`` is shaped as a DER PKCS#8 ``PrivateKeyInfo`` (version INTEGER, then the
    AlgorithmIdentifier SEQUENCE) rather than a PKCS#1 or SEC1 private key (version INTEGER, then INTEGER or
    OCTET STRING). The content itself is checked by loading the key."""
    offset = _header_end(material, 0, tag=0x30)
    if offset is None:
        return False
    version_end = _element_end(material, offset, tag=0x02)
    return version_end is not None and version_end < len(material) and material[version_end] == 0x30


def _length(data: bytes, offset: int) -> tuple[int, int] | None:
    """(content length, offset of the content) of the DER length at ``offset``."""
    if offset >= len(data):
        return None
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4 or offset + 1 + count > len(data):
        return None
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def _header_end(data: bytes, offset: int, *, tag: int) -> int | None:
    if offset >= len(data) or data[offset] != tag:
        return None
    found = _length(data, offset + 1)
    return None if found is None else found[1]


def _element_end(data: bytes, offset: int, *, tag: int) -> int | None:
    if offset >= len(data) or data[offset] != tag:
        return None
    found = _length(data, offset + 1)
    if found is None or found[1] + found[0] > len(data):
        return None
    return found[1] + found[0]
