"""GenerateMac and VerifyMac through boto3 (spec/kms-real-responses.md 1.11, 2.2, 2.3). The HMAC key never leaves
KMS, so the MACs are checked by their size, determinism, key separation and VerifyMac."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.kms_helpers import error_of

MESSAGE = b"some important message"
SPECS = [("HMAC_224", "HMAC_SHA_224", 28), ("HMAC_256", "HMAC_SHA_256", 32), ("HMAC_384", "HMAC_SHA_384", 48),
         ("HMAC_512", "HMAC_SHA_512", 64)]


def hmac_key(kms: Any, spec: str) -> str:
    return kms.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]


@pytest.mark.parametrize(("spec", "algorithm", "size"), SPECS)
def test_generate_and_verify_mac(kms: Any, spec: str, algorithm: str, size: int) -> None:
    arn, other = hmac_key(kms, spec), hmac_key(kms, spec)
    result = kms.generate_mac(KeyId=arn, Message=MESSAGE, MacAlgorithm=algorithm)
    assert result["KeyId"] == arn and result["MacAlgorithm"] == algorithm and len(result["Mac"]) == size
    mac = result["Mac"]
    assert kms.generate_mac(KeyId=arn.split("/")[-1], Message=MESSAGE, MacAlgorithm=algorithm)["Mac"] == mac
    assert kms.generate_mac(KeyId=arn, Message=MESSAGE + b".", MacAlgorithm=algorithm)["Mac"] != mac
    assert kms.generate_mac(KeyId=other, Message=MESSAGE, MacAlgorithm=algorithm)["Mac"] != mac
    verified = kms.verify_mac(KeyId=arn, Message=MESSAGE, Mac=mac, MacAlgorithm=algorithm)
    assert verified["KeyId"] == arn and verified["MacValid"] is True and verified["MacAlgorithm"] == algorithm
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "VerifyMac"


def test_wrong_mac_is_an_error_without_message(kms: Any) -> None:
    arn, other = hmac_key(kms, "HMAC_256"), hmac_key(kms, "HMAC_256")
    mac = kms.generate_mac(KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")["Mac"]
    foreign = kms.generate_mac(KeyId=other, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")["Mac"]
    flipped = bytes([mac[0] ^ 1]) + mac[1:]
    for message, candidate in [(b"some different important message", mac), (MESSAGE, foreign), (MESSAGE, flipped),
                               (MESSAGE, mac[:16]), (MESSAGE, mac + b"\x00")]:
        with pytest.raises(ClientError) as caught:
            kms.verify_mac(KeyId=arn, Message=message, Mac=candidate, MacAlgorithm="HMAC_SHA_256")
        response = caught.value.response
        assert response["Error"]["Code"] == "KMSInvalidMacException"
        assert response["Error"]["Message"] == "" and "message" not in response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_algorithm_must_match_the_key_spec(kms: Any) -> None:
    hmac_224, hmac_256 = hmac_key(kms, "HMAC_224"), hmac_key(kms, "HMAC_256")
    assert error_of(kms.generate_mac, KeyId=hmac_224, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256") == (
        "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.", 400)
    mac = kms.generate_mac(KeyId=hmac_256, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert error_of(kms.verify_mac, KeyId=hmac_256, Message=MESSAGE, Mac=mac, MacAlgorithm="HMAC_SHA_512") == (
        "InvalidKeyUsageException", "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.", 400)
    for call, extra in [(kms.generate_mac, {}), (kms.verify_mac, {"Mac": mac})]:
        code, message, status = error_of(call, KeyId=hmac_256, Message=MESSAGE, MacAlgorithm="INVALID", **extra)
        assert (code, status) == ("ValidationException", 400)
        assert message.startswith("1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy "
                                  "constraint: Member must satisfy enum value set: [")


def test_key_usage_identifiers_and_states(kms: Any) -> None:
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    assert error_of(kms.generate_mac, KeyId=symmetric, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256") == (
        "InvalidKeyUsageException", f"{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.", 400)
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    assert error_of(kms.verify_mac, KeyId=signing, Message=MESSAGE, Mac=b"m" * 32, MacAlgorithm="HMAC_SHA_256")[:2] == (
        "InvalidKeyUsageException", f"{signing} key usage is SIGN_VERIFY which is not valid for VerifyMac.")
    for call, extra in [(kms.generate_mac, {}), (kms.verify_mac, {"Mac": b"m" * 32})]:
        assert error_of(call, KeyId="key_id", Message=MESSAGE, MacAlgorithm="HMAC_SHA_256", **extra) == (
            "NotFoundException", "Invalid keyId 'key_id'", 400)
    arn = hmac_key(kms, "HMAC_256")
    mac = kms.generate_mac(KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")["Mac"]
    kms.disable_key(KeyId=arn)
    assert error_of(kms.generate_mac, KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256") == (
        "DisabledException", f"{arn} is disabled.", 400)
    assert error_of(kms.verify_mac, KeyId=arn, Message=MESSAGE, Mac=mac, MacAlgorithm="HMAC_SHA_256")[:2] == (
        "DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=arn)
    assert kms.verify_mac(KeyId=arn, Message=MESSAGE, Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"] is True
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert error_of(kms.generate_mac, KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256") == (
        "KMSInvalidStateException", f"{arn} is pending deletion.", 400)


def test_dry_run_and_grant_tokens(kms: Any) -> None:
    arn = hmac_key(kms, "HMAC_384")
    assert error_of(kms.generate_mac, KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_384", DryRun=True) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 400)
    assert error_of(kms.generate_mac, KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256", DryRun=True)[0] == (
        "InvalidKeyUsageException")
    assert error_of(kms.verify_mac, KeyId=arn, Message=MESSAGE, Mac=b"wrong", MacAlgorithm="HMAC_SHA_384",
                    DryRun=True)[0] == "DryRunOperationException"
    assert "KeyLastUsage" not in kms.get_key_last_usage(KeyId=arn)
    assert error_of(kms.generate_mac, KeyId=arn, Message=MESSAGE, MacAlgorithm="HMAC_SHA_384",
                    GrantTokens=["forged"])[0] == "InvalidGrantTokenException"
