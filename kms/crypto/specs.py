"""What each KMS key spec is, which usages and algorithms it has, and how its material is made and loaded.

https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html (spec 5.5). Material is
the bytes the domain key wraps: raw bytes for AES and HMAC keys, a PKCS#8 DER private key for asymmetric keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

from kms.enums import (
    EncapsulationAlgorithm,
    EncryptionAlgorithm,
    KeyAgreementAlgorithm,
    KeySpec,
    KeyUsage,
    MacAlgorithm,
    SigningAlgorithm,
)


class KeyFamily(Enum):
    SYMMETRIC = "symmetric"
    HMAC = "hmac"
    RSA = "rsa"
    ECC = "ecc"
    ED25519 = "ed25519"
    ML_DSA = "ml-dsa"
    ML_KEM = "ml-kem"
    SM2 = "sm2"


_RSA_SIGNING = (
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256,
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384,
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512,
    SigningAlgorithm.RSASSA_PSS_SHA_256,
    SigningAlgorithm.RSASSA_PSS_SHA_384,
    SigningAlgorithm.RSASSA_PSS_SHA_512,
)
_RSA_ENCRYPTION = (EncryptionAlgorithm.RSAES_OAEP_SHA_1, EncryptionAlgorithm.RSAES_OAEP_SHA_256)


@dataclass(frozen=True)
class SpecInfo:
    spec: KeySpec
    family: KeyFamily
    usages: dict[KeyUsage, tuple[Enum, ...]]
    """The algorithms of each usage the spec allows (KeyMetadata lists them)."""
    size: int = 0
    """RSA modulus bits, HMAC/AES key bytes."""
    curve: type[ec.EllipticCurve] | None = None
    supported: bool = True
    """False where no maintained library does it for real here (SM2 is China-only in AWS, ML-KEM-512 is not in
    pyca/cryptography)."""


def _ecc(spec: KeySpec, curve: type[ec.EllipticCurve], signing: SigningAlgorithm, agreement: bool) -> SpecInfo:
    usages: dict[KeyUsage, tuple[Enum, ...]] = {KeyUsage.SIGN_VERIFY: (signing,)}
    if agreement:
        usages[KeyUsage.KEY_AGREEMENT] = (KeyAgreementAlgorithm.ECDH,)
    return SpecInfo(spec, KeyFamily.ECC, usages, curve=curve)


def _rsa(spec: KeySpec, bits: int) -> SpecInfo:
    usages = {KeyUsage.ENCRYPT_DECRYPT: _RSA_ENCRYPTION, KeyUsage.SIGN_VERIFY: _RSA_SIGNING}
    return SpecInfo(spec, KeyFamily.RSA, usages, size=bits)  # type: ignore[arg-type]


def _hmac(spec: KeySpec, algorithm: MacAlgorithm, size: int) -> SpecInfo:
    return SpecInfo(spec, KeyFamily.HMAC, {KeyUsage.GENERATE_VERIFY_MAC: (algorithm,)}, size=size)


def _mldsa(spec: KeySpec) -> SpecInfo:
    return SpecInfo(spec, KeyFamily.ML_DSA, {KeyUsage.SIGN_VERIFY: (SigningAlgorithm.ML_DSA_SHAKE_256,)})


def _mlkem(spec: KeySpec, supported: bool = True) -> SpecInfo:
    usages: dict[KeyUsage, tuple[Enum, ...]] = {KeyUsage.ENCAPSULATE_DECAPSULATE: (EncapsulationAlgorithm.ML_KEM,)}
    return SpecInfo(spec, KeyFamily.ML_KEM, usages, supported=supported)


SPECS: dict[KeySpec, SpecInfo] = {
    info.spec: info
    for info in (
        SpecInfo(KeySpec.SYMMETRIC_DEFAULT, KeyFamily.SYMMETRIC,
                 {KeyUsage.ENCRYPT_DECRYPT: (EncryptionAlgorithm.SYMMETRIC_DEFAULT,)}, size=32),
        _rsa(KeySpec.RSA_2048, 2048),
        _rsa(KeySpec.RSA_3072, 3072),
        _rsa(KeySpec.RSA_4096, 4096),
        _ecc(KeySpec.ECC_NIST_P256, ec.SECP256R1, SigningAlgorithm.ECDSA_SHA_256, agreement=True),
        _ecc(KeySpec.ECC_NIST_P384, ec.SECP384R1, SigningAlgorithm.ECDSA_SHA_384, agreement=True),
        _ecc(KeySpec.ECC_NIST_P521, ec.SECP521R1, SigningAlgorithm.ECDSA_SHA_512, agreement=True),
        _ecc(KeySpec.ECC_SECG_P256K1, ec.SECP256K1, SigningAlgorithm.ECDSA_SHA_256, agreement=False),
        SpecInfo(KeySpec.ECC_NIST_EDWARDS25519, KeyFamily.ED25519,
                 {KeyUsage.SIGN_VERIFY: (SigningAlgorithm.ED25519_SHA_512, SigningAlgorithm.ED25519_PH_SHA_512)}),
        _hmac(KeySpec.HMAC_224, MacAlgorithm.HMAC_SHA_224, 28),
        _hmac(KeySpec.HMAC_256, MacAlgorithm.HMAC_SHA_256, 32),
        _hmac(KeySpec.HMAC_384, MacAlgorithm.HMAC_SHA_384, 48),
        _hmac(KeySpec.HMAC_512, MacAlgorithm.HMAC_SHA_512, 64),
        _mldsa(KeySpec.ML_DSA_44),
        _mldsa(KeySpec.ML_DSA_65),
        _mldsa(KeySpec.ML_DSA_87),
        _mlkem(KeySpec.ML_KEM_512, supported=False),
        _mlkem(KeySpec.ML_KEM_768),
        _mlkem(KeySpec.ML_KEM_1024),
        SpecInfo(KeySpec.SM2, KeyFamily.SM2, {
            KeyUsage.ENCRYPT_DECRYPT: (EncryptionAlgorithm.SM2PKE,),
            KeyUsage.SIGN_VERIFY: (SigningAlgorithm.SM2DSA,),
            KeyUsage.KEY_AGREEMENT: (KeyAgreementAlgorithm.ECDH,),
        }, supported=False),
    )
}

_MLDSA = {KeySpec.ML_DSA_44: mldsa.MLDSA44PrivateKey, KeySpec.ML_DSA_65: mldsa.MLDSA65PrivateKey,
          KeySpec.ML_DSA_87: mldsa.MLDSA87PrivateKey}
_MLKEM = {KeySpec.ML_KEM_768: mlkem.MLKEM768PrivateKey, KeySpec.ML_KEM_1024: mlkem.MLKEM1024PrivateKey}

PrivateKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey | mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey
)


def is_symmetric(spec: KeySpec) -> bool:
    return SPECS[spec].family in (KeyFamily.SYMMETRIC, KeyFamily.HMAC)


def generate_material(spec: KeySpec) -> bytes:
    """Fresh key material for ``spec`` (raw bytes or PKCS#8 DER)."""
    info = SPECS[spec]
    if info.family in (KeyFamily.SYMMETRIC, KeyFamily.HMAC):
        return os.urandom(info.size)
    return private_key_der(_generate_private_key(info))


def _generate_private_key(info: SpecInfo) -> PrivateKey:
    if info.family is KeyFamily.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=info.size)
    if info.family is KeyFamily.ECC:
        assert info.curve is not None
        return ec.generate_private_key(info.curve())
    if info.family is KeyFamily.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if info.family is KeyFamily.ML_DSA:
        return _MLDSA[info.spec].generate()
    if info.family is KeyFamily.ML_KEM:
        return _MLKEM[info.spec].generate()
    raise ValueError(f"no key generation for {info.spec}")


def private_key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(material: bytes) -> PrivateKey:
    key = serialization.load_der_private_key(material, password=None)
    return key  # type: ignore[return-value]


def public_key_der(key: PrivateKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key`` (what GetPublicKey returns)."""
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
