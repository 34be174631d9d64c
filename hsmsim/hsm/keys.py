"""Key pairs inside tokens and a signer that signs with them (PKCS#11 only, no AWS vocabulary).

A :class:`TokenSigner` satisfies the ``Signer`` protocol of :mod:`hsmsim.cloudhsm.certificates`: the private key
never leaves its token; only the data to be signed goes in and the signature comes out.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_ecdsa_signature, encode_named_curve_parameters

if TYPE_CHECKING:
    from hsmsim.hsm.softhsm import SoftHSM

_PRIVATE_KEY_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}


def generate_ec_keypair(hsm: SoftHSM, serial: str, label: str, curve: str = "secp256r1") -> ec.EllipticCurvePublicKey:
    """An EC key pair generated inside the token (non-extractable); returns the public key."""
    with hsm.session(serial, exclusive=True) as session:
        public, _private = session.generate_keypair(
            KeyType.EC,
            store=True,
            label=label,
            public_template={Attribute.EC_PARAMS: encode_named_curve_parameters(curve)},
            private_template=dict(_PRIVATE_KEY_TEMPLATE),
        )
        der = encode_ec_public_key(public)
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def import_rsa_private_key(hsm: SoftHSM, serial: str, label: str, key: rsa.RSAPrivateKey) -> rsa.RSAPublicKey:
    """Store ``key`` in the token as a sensitive, non-extractable private key (plus its public half).

    Used where SoftHSM's own RSA generation (120-280 ms here) would dominate a latency budget: the key is made
    by OpenSSL in memory, goes straight into the token and the caller drops its reference.
    """
    numbers = key.private_numbers()
    public_numbers = numbers.public_numbers

    def as_bytes(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    with hsm.session(serial, exclusive=True) as session:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.KEY_TYPE: KeyType.RSA,
                Attribute.LABEL: label,
                Attribute.SIGN: True,
                Attribute.DECRYPT: True,
                Attribute.MODULUS: as_bytes(public_numbers.n),
                Attribute.PUBLIC_EXPONENT: as_bytes(public_numbers.e),
                Attribute.PRIVATE_EXPONENT: as_bytes(numbers.d),
                Attribute.PRIME_1: as_bytes(numbers.p),
                Attribute.PRIME_2: as_bytes(numbers.q),
                Attribute.EXPONENT_1: as_bytes(numbers.dmp1),
                Attribute.EXPONENT_2: as_bytes(numbers.dmq1),
                Attribute.COEFFICIENT: as_bytes(numbers.iqmp),
                **_PRIVATE_KEY_TEMPLATE,
            }
        )
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.RSA,
                Attribute.LABEL: label,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
                Attribute.VERIFY: True,
                Attribute.ENCRYPT: True,
                Attribute.MODULUS: as_bytes(public_numbers.n),
                Attribute.PUBLIC_EXPONENT: as_bytes(public_numbers.e),
            }
        )
    return key.public_key()


class TokenSigner:
    """Signs with the private key labelled ``label`` in token ``serial``: RSA PKCS#1 v1.5 or ECDSA, SHA-256."""

    def __init__(self, hsm: SoftHSM, serial: str, label: str, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        self._hsm = hsm
        self._serial = serial
        self._label = label
        self._public_key = public_key

    @property
    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        with self._hsm.session(self._serial) as session:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=self._label)
            if isinstance(self._public_key, rsa.RSAPublicKey):
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            # SoftHSM 2.6.1 has no CKM_ECDSA_SHA256 (softhsm-facts 5): hash here, sign the digest in the token.
            raw = key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
            return bytes(encode_ecdsa_signature(raw))
