"""ECDH for KEY_AGREEMENT keys and ML-KEM for ENCAPSULATE_DECAPSULATE keys (pure crypto, no KMS errors).

DeriveSharedSecret returns the raw ECDH output (the x-coordinate, as long as the field), which LocalStack checked
against OpenSSL on AWS. https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, mlkem
from cryptography.hazmat.primitives.serialization import load_der_public_key


class UnreadablePublicKey(ValueError):
    """The bytes are not a DER SubjectPublicKeyInfo that this library can read."""


class WrongPeerKey(ValueError):
    """A readable public key that cannot agree with the KMS key (another algorithm or curve)."""


def peer_public_key(der: bytes, curve: type[ec.EllipticCurve]) -> ec.EllipticCurvePublicKey:
    """The peer's EC public key from its DER SPKI, checked to be on ``curve``."""
    try:
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm, TypeError) as error:
        raise UnreadablePublicKey(str(error)) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WrongPeerKey("not an elliptic-curve key")
    if not isinstance(key.curve, curve):
        raise WrongPeerKey(f"on curve {key.curve.name}")
    return key


def ecdh(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    return private_key.exchange(ec.ECDH(), peer)


MLKEMPrivateKey = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey

CIPHERTEXT_BYTES = {mlkem.MLKEM768PrivateKey: 1088, mlkem.MLKEM1024PrivateKey: 1568}
"""FIPS 203 ciphertext sizes (the Encapsulate docs list 768/1088/1568 bytes for ML-KEM-512/768/1024)."""


def encapsulate(private_key: MLKEMPrivateKey) -> tuple[bytes, bytes]:
    """``(shared_secret, ciphertext)`` made with the public half of ``private_key``."""
    return private_key.public_key().encapsulate()


def ciphertext_fits(private_key: MLKEMPrivateKey, ciphertext: bytes) -> bool:
    return any(isinstance(private_key, kind) and len(ciphertext) == size for kind, size in CIPHERTEXT_BYTES.items())


def decapsulate(private_key: MLKEMPrivateKey, ciphertext: bytes) -> bytes:
    """The 32-byte shared secret; a wrong but well-sized ciphertext gives a pseudo-random one (implicit rejection)."""
    return private_key.decapsulate(ciphertext)
