"""RSAES-OAEP for RSA ``ENCRYPT_DECRYPT`` keys, as KMS does it.

https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html#rsa-key-specs —
``RSAES_OAEP_SHA_1`` and ``RSAES_OAEP_SHA_256`` are OAEP with MGF1 over the same hash and an empty label,
so a ciphertext made offline with the public key of GetPublicKey decrypts in KMS and the other way round.
The ciphertext is the bare RSA output (modulus length); unlike a symmetric blob it names no key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kms.enums import EncryptionAlgorithm

_HASHES: dict[EncryptionAlgorithm, type[hashes.HashAlgorithm]] = {
    EncryptionAlgorithm.RSAES_OAEP_SHA_1: hashes.SHA1,
    EncryptionAlgorithm.RSAES_OAEP_SHA_256: hashes.SHA256,
}


class RsaDecryptionFailed(ValueError):
    """The bytes are not an OAEP ciphertext of this key and algorithm."""


def is_oaep(algorithm: EncryptionAlgorithm) -> bool:
    return algorithm in _HASHES


def _padding(algorithm: EncryptionAlgorithm) -> padding.OAEP:
    digest = _HASHES[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def max_plaintext_bytes(modulus_bits: int, algorithm: EncryptionAlgorithm) -> int:
    """k − 2·hLen − 2 (RFC 8017 7.1.1): 214/190 bytes for RSA_2048, 342/318 for 3072, 470/446 for 4096."""
    return modulus_bits // 8 - 2 * _HASHES[algorithm].digest_size - 2


def oaep_encrypt(public_key: rsa.RSAPublicKey, algorithm: EncryptionAlgorithm, plaintext: bytes) -> bytes:
    """The caller checks :func:`max_plaintext_bytes` first (AWS answers with a ValidationException)."""
    return public_key.encrypt(plaintext, _padding(algorithm))


def oaep_decrypt(private_key: rsa.RSAPrivateKey, algorithm: EncryptionAlgorithm, ciphertext: bytes) -> bytes:
    try:
        return private_key.decrypt(ciphertext, _padding(algorithm))
    except ValueError:
        raise RsaDecryptionFailed("OAEP decryption failed") from None
