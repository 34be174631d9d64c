"""Enum values in KMS validation messages come in AWS's recorded order (spec/kms-real-responses.md 1.1, 1.11,
1.12, 1.17); values added to the model since the recording follow in model order."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of


@pytest.fixture
def raw_kms(sim: Any) -> Any:
    """A client that sends bad enum values to the server instead of checking them itself."""
    return boto3.client("kms", endpoint_url=sim.url, region_name=REGION, aws_access_key_id=ACCOUNT,
                        aws_secret_access_key="secret",
                        config=BotoConfig(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}))


def enum_error(value: str, member: str, values: str) -> tuple[str, str, int]:
    message = (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
               f"Member must satisfy enum value set: [{values}]")
    return ("ValidationException", message, 400)


def test_key_spec_and_key_usage(raw_kms: Any) -> None:
    assert error_of(raw_kms.create_key, KeySpec="HMAC_random") == enum_error(
        "HMAC_random", "keySpec",
        "RSA_2048, ECC_NIST_P384, ECC_NIST_P256, ECC_NIST_P521, HMAC_384, RSA_3072, ECC_SECG_P256K1, RSA_4096, "
        "SYMMETRIC_DEFAULT, HMAC_256, HMAC_224, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, "
        "ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, ML_KEM_1024")
    assert error_of(raw_kms.create_key, KeySpec="HMAC_256", KeyUsage="RANDOM") == enum_error(
        "RANDOM", "keyUsage",
        "ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE")
    assert raw_kms.list_keys()["Keys"] == []


def test_mac_agreement_and_rotation_enums(raw_kms: Any) -> None:
    key_id = "134f2428-cec1-4b25-a1ae-9048164dba47"
    recorded_mac = "HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512"
    assert error_of(raw_kms.generate_mac, KeyId=key_id, Message=b"m", MacAlgorithm="INVALID") == enum_error(
        "INVALID", "macAlgorithm", recorded_mac)
    assert error_of(raw_kms.verify_mac, KeyId=key_id, Message=b"m", Mac=b"x", MacAlgorithm="INVALID") == (
        enum_error("INVALID", "macAlgorithm", recorded_mac))
    assert error_of(raw_kms.derive_shared_secret, KeyId=key_id, KeyAgreementAlgorithm="INVALID",
                    PublicKey=b"k") == enum_error("INVALID", "keyAgreementAlgorithm", "ECDH")
    assert error_of(raw_kms.list_key_rotations, KeyId=key_id, IncludeKeyMaterial="INVALID_VALUE") == enum_error(
        "INVALID_VALUE", "includeKeyMaterial", "ALL_KEY_MATERIAL, ROTATIONS_ONLY")


def test_unrecorded_enums_keep_model_order(raw_kms: Any) -> None:
    assert error_of(raw_kms.generate_data_key, KeyId="alias/x", KeySpec="AES_512") == enum_error(
        "AES_512", "keySpec", "AES_256, AES_128")
