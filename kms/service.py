"""The KMS service: one method per operation of botocore's ``kms`` model (56 in botocore 1.44.8).

The operations live in groups under :mod:`kms.operations`, each a small module; this class composes them.
``tests/test_kms_contract.py`` checks that every operation of the pinned model has its method.
"""

from kms.operations.agreement import KeyAgreementOperations
from kms.operations.aliases import AliasOperations
from kms.operations.customkeystores import CustomKeyStoreOperations
from kms.operations.datakeys import DataKeyOperations
from kms.operations.encryption import EncryptionOperations
from kms.operations.grants import GrantOperations
from kms.operations.imports import ImportOperations
from kms.operations.keys import KeyOperations
from kms.operations.macs import MacOperations
from kms.operations.multiregion import MultiRegionOperations
from kms.operations.policies import PolicyOperations
from kms.operations.rotation import RotationOperations
from kms.operations.signing import SigningOperations
from kms.operations.tags import TagOperations


class KMSService(
    KeyOperations,
    EncryptionOperations,
    DataKeyOperations,
    SigningOperations,
    MacOperations,
    KeyAgreementOperations,
    RotationOperations,
    ImportOperations,
    AliasOperations,
    TagOperations,
    PolicyOperations,
    GrantOperations,
    MultiRegionOperations,
    CustomKeyStoreOperations,
):
    """Built per request with the runtime and the request's unit of work (``None`` on the in-memory path)."""


MEMORY_OPERATIONS = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "Sign", "Verify", "GenerateMac", "VerifyMac",
    "GetPublicKey", "DeriveSharedSecret", "Encapsulate", "Decapsulate", "DescribeKey",
})
"""Operations that change nothing in the database: tried from the key cache first, without the server lock."""
