"""Data key pairs of GenerateDataKeyPair(+WithoutPlaintext): a fresh asymmetric key pair for use outside KMS.

https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html — the private key is a DER
PKCS#8 ``PrivateKeyInfo``, the public key a DER X.509 ``SubjectPublicKeyInfo``. The key-usage rules of KMS
keys do not apply to data key pairs, so every spec of the ``DataKeyPairSpec`` enum that a maintained library
implements here is offered (SM2 is China-only in AWS, ML-KEM-512 is not in pyca/cryptography).
"""

from __future__ import annotations

from dataclasses import dataclass

from kms.crypto.specs import SPECS, generate_material, load_private_key, public_key_der
from kms.enums import KeySpec


class UnsupportedKeyPairSpec(ValueError):
    """The spec exists in the model but cannot be generated here."""


@dataclass(frozen=True)
class DataKeyPair:
    private_key_der: bytes
    """PKCS#8 DER: secret, never logged or stored."""
    public_key_der: bytes

    def __repr__(self) -> str:  # never print the private key
        return f"DataKeyPair(public={len(self.public_key_der)} bytes)"


def is_generatable(spec_name: str) -> bool:
    spec = KeySpec(spec_name)
    return spec in SPECS and SPECS[spec].supported


def generate_data_key_pair(spec_name: str) -> DataKeyPair:
    """A new pair for a ``DataKeyPairSpec`` value (its values are key specs of the same name)."""
    if not is_generatable(spec_name):
        raise UnsupportedKeyPairSpec(spec_name)
    private_der = generate_material(KeySpec(spec_name))
    return DataKeyPair(private_der, public_key_der(load_private_key(private_der)))
