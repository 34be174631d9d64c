"""KMS signing algorithms: which message types each takes, and signing/verifying with pyca/cryptography.

https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html (``MessageType``):
* ``RAW`` hashes the message as the algorithm says; ``DIGEST`` takes the message as that hash (its length must
  be the hash's: ``Digest is invalid length for algorithm X.``, recorded) and signs it Prehashed.
* ``ED25519_SHA_512`` needs ``RAW``; ``ED25519_PH_SHA_512`` needs ``DIGEST`` and still applies Ed25519ph's own
  SHA-512 prehash to the 64-byte digest ("the input is hashed twice").
* ML-DSA takes ``RAW`` or ``EXTERNAL_MU``: the message is the 64-byte μ of FIPS 204 §6.2 (empty context).
RSA-PSS uses a salt as long as the hash (asserted against AWS); ECDSA signatures are DER, as AWS returns them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed25519,
    mldsa,
    padding,
    rsa,
    utils,
)

from kms.crypto import ed25519ph
from kms.enums import KeySpec, MessageType, SigningAlgorithm


class BadSigningInput(ValueError):
    """The message does not suit the algorithm (AWS answers ValidationException with this text)."""


class Scheme(enum.Enum):
    RSA_PSS = "rsa-pss"
    RSA_PKCS1 = "rsa-pkcs1"
    ECDSA = "ecdsa"
    ED25519 = "ed25519"
    ED25519_PH = "ed25519ph"
    ML_DSA = "ml-dsa"


@dataclass(frozen=True)
class Algorithm:
    scheme: Scheme
    hash: type[hashes.HashAlgorithm] | None
    message_types: frozenset[MessageType]

    @property
    def digest_size(self) -> int:
        return self.hash.digest_size if self.hash is not None else 0  # type: ignore[attr-defined]


_RAW_OR_DIGEST = frozenset({MessageType.RAW, MessageType.DIGEST})
ALGORITHMS: dict[SigningAlgorithm, Algorithm] = {
    SigningAlgorithm.RSASSA_PSS_SHA_256: Algorithm(Scheme.RSA_PSS, hashes.SHA256, _RAW_OR_DIGEST),
    SigningAlgorithm.RSASSA_PSS_SHA_384: Algorithm(Scheme.RSA_PSS, hashes.SHA384, _RAW_OR_DIGEST),
    SigningAlgorithm.RSASSA_PSS_SHA_512: Algorithm(Scheme.RSA_PSS, hashes.SHA512, _RAW_OR_DIGEST),
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256: Algorithm(Scheme.RSA_PKCS1, hashes.SHA256, _RAW_OR_DIGEST),
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384: Algorithm(Scheme.RSA_PKCS1, hashes.SHA384, _RAW_OR_DIGEST),
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512: Algorithm(Scheme.RSA_PKCS1, hashes.SHA512, _RAW_OR_DIGEST),
    SigningAlgorithm.ECDSA_SHA_256: Algorithm(Scheme.ECDSA, hashes.SHA256, _RAW_OR_DIGEST),
    SigningAlgorithm.ECDSA_SHA_384: Algorithm(Scheme.ECDSA, hashes.SHA384, _RAW_OR_DIGEST),
    SigningAlgorithm.ECDSA_SHA_512: Algorithm(Scheme.ECDSA, hashes.SHA512, _RAW_OR_DIGEST),
    SigningAlgorithm.ED25519_SHA_512: Algorithm(Scheme.ED25519, None, frozenset({MessageType.RAW})),
    SigningAlgorithm.ED25519_PH_SHA_512: Algorithm(Scheme.ED25519_PH, hashes.SHA512, frozenset({MessageType.DIGEST})),
    SigningAlgorithm.ML_DSA_SHAKE_256: Algorithm(
        Scheme.ML_DSA, None, frozenset({MessageType.RAW, MessageType.EXTERNAL_MU})),
}

MU_BYTES = 64
"""FIPS 204 μ is 64 bytes."""


def check_message(spec: KeySpec, algorithm: SigningAlgorithm, message_type: MessageType, message: bytes) -> None:
    """Raise :class:`BadSigningInput` unless ``message`` of ``message_type`` suits ``algorithm``."""
    info = ALGORITHMS[algorithm]
    if message_type not in info.message_types:
        if info.scheme in (Scheme.ED25519, Scheme.ED25519_PH):
            raise BadSigningInput(f"Message type {message_type.value} is incompatible with algorithm {algorithm.value}.")
        raise BadSigningInput(f"Message type {message_type.value} is incompatible with key spec {spec.value}.")
    if message_type is MessageType.DIGEST and len(message) != info.digest_size:
        raise BadSigningInput(f"Digest is invalid length for algorithm {algorithm.value}.")
    if message_type is MessageType.EXTERNAL_MU and len(message) != MU_BYTES:
        raise BadSigningInput(f"External Mu is invalid length for algorithm {algorithm.value}.")


def signing_is_heavy(algorithm: SigningAlgorithm) -> bool:
    """Whether signing takes milliseconds: RSA private-key work, ML-DSA, and the pure-Python Ed25519ph."""
    return ALGORITHMS[algorithm].scheme in (Scheme.RSA_PSS, Scheme.RSA_PKCS1, Scheme.ML_DSA, Scheme.ED25519_PH)


def verifying_is_heavy(algorithm: SigningAlgorithm) -> bool:
    """Public-key checks are light, except the pure-Python Ed25519ph (a few milliseconds)."""
    return ALGORITHMS[algorithm].scheme is Scheme.ED25519_PH


def _hash_argument(info: Algorithm, message_type: MessageType) -> hashes.HashAlgorithm | utils.Prehashed:
    assert info.hash is not None
    return utils.Prehashed(info.hash()) if message_type is MessageType.DIGEST else info.hash()


def _rsa_padding(info: Algorithm) -> padding.AsymmetricPadding:
    assert info.hash is not None
    if info.scheme is Scheme.RSA_PSS:
        return padding.PSS(mgf=padding.MGF1(info.hash()), salt_length=info.digest_size)
    return padding.PKCS1v15()


def sign(private_key: object, algorithm: SigningAlgorithm, message_type: MessageType, message: bytes) -> bytes:
    """The signature AWS would return (call :func:`check_message` first)."""
    info = ALGORITHMS[algorithm]
    if info.scheme in (Scheme.RSA_PSS, Scheme.RSA_PKCS1):
        assert isinstance(private_key, rsa.RSAPrivateKey)
        return private_key.sign(message, _rsa_padding(info), _hash_argument(info, message_type))
    if info.scheme is Scheme.ECDSA:
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        return private_key.sign(message, ec.ECDSA(_hash_argument(info, message_type)))
    if info.scheme is Scheme.ED25519:
        assert isinstance(private_key, ed25519.Ed25519PrivateKey)
        return private_key.sign(message)
    if info.scheme is Scheme.ED25519_PH:
        assert isinstance(private_key, ed25519.Ed25519PrivateKey)
        return ed25519ph.sign(private_key.private_bytes_raw(), message)
    assert isinstance(private_key, (mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey, mldsa.MLDSA87PrivateKey))
    if message_type is MessageType.EXTERNAL_MU:
        return private_key.sign_mu(message)
    return private_key.sign(message)


def verify(public_key: object, algorithm: SigningAlgorithm, message_type: MessageType, message: bytes,
           signature: bytes) -> bool:
    """Whether ``signature`` is valid, checked with the public key alone."""
    info = ALGORITHMS[algorithm]
    try:
        if info.scheme in (Scheme.RSA_PSS, Scheme.RSA_PKCS1):
            assert isinstance(public_key, rsa.RSAPublicKey)
            public_key.verify(signature, message, _rsa_padding(info), _hash_argument(info, message_type))
        elif info.scheme is Scheme.ECDSA:
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            public_key.verify(signature, message, ec.ECDSA(_hash_argument(info, message_type)))
        elif info.scheme is Scheme.ED25519:
            assert isinstance(public_key, ed25519.Ed25519PublicKey)
            public_key.verify(signature, message)
        elif info.scheme is Scheme.ED25519_PH:
            assert isinstance(public_key, ed25519.Ed25519PublicKey)
            return ed25519ph.verify(public_key.public_bytes_raw(), message, signature)
        elif message_type is MessageType.EXTERNAL_MU:
            public_key.verify_mu(signature, message)  # type: ignore[attr-defined]
        else:
            public_key.verify(signature, message)  # type: ignore[attr-defined]
    except (InvalidSignature, ValueError):
        return False
    return True
