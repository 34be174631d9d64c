"""The order in which AWS lists a KMS enum's values in a validation message, as recorded against AWS.

AWS does not list enum values in model order (spec/kms-real-responses.md §0.2, §2.3). The recordings:

* §1.1 CreateKey ``KeySpec=HMAC_random`` and ``KeyUsage=RANDOM`` (2023-04-13);
* §1.11 GenerateMac/VerifyMac ``MacAlgorithm=INVALID`` (2023-04-13);
* §1.12 DeriveSharedSecret ``KeyAgreementAlgorithm=INVALID`` (2024-12-25);
* §1.17 ListKeyRotations ``IncludeKeyMaterial=INVALID_VALUE`` (2025-07-15).

Values the model gained after a recording (``SM2``, ``ML_DSA_*``, ``KEY_AGREEMENT``, …) follow the recorded ones
in model order (:func:`hsmsim.aws.shapes.ordered_enum`). Keys are the model's shape names.
"""

from __future__ import annotations

KMS_ENUM_ORDERS: dict[str, tuple[str, ...]] = {
    "KeySpec": (
        "RSA_2048", "ECC_NIST_P384", "ECC_NIST_P256", "ECC_NIST_P521", "HMAC_384", "RSA_3072", "ECC_SECG_P256K1",
        "RSA_4096", "SYMMETRIC_DEFAULT", "HMAC_256", "HMAC_224", "HMAC_512",
    ),
    "KeyUsageType": ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"),
    "MacAlgorithmSpec": ("HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"),
    "KeyAgreementAlgorithmSpec": ("ECDH",),
    "IncludeKeyMaterial": ("ALL_KEY_MATERIAL", "ROTATIONS_ONLY"),
}
