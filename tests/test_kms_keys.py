"""Key management: CreateKey for every spec, DescribeKey, ListKeys pagination, enable/disable, deletion on the
simulated clock, identifiers and AWS's messages (spec/kms-real-responses.md 1.1, 1.4, 2.1, 3.1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of


def test_create_symmetric_key_metadata(kms: Any) -> None:
    meta = kms.create_key(Description="d")["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{meta['KeyId']}"
    assert meta["AWSAccountId"] == ACCOUNT and meta["KeyManager"] == "CUSTOMER" and meta["Origin"] == "AWS_KMS"
    assert meta["MultiRegion"] is False and "MultiRegionConfiguration" not in meta
    assert len(meta["CurrentKeyMaterialId"]) == 64
    assert kms.describe_key(KeyId=meta["Arn"])["KeyMetadata"] == meta


@pytest.mark.parametrize(
    ("spec", "usage", "member", "algorithms"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        ("ECC_NIST_P256", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
        ("HMAC_384", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_384"]),
        ("ML_DSA_44", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"]),
    ],
)
def test_create_key_specs(kms: Any, spec: str, usage: str, member: str, algorithms: list[str]) -> None:
    meta = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert meta["KeySpec"] == spec and meta["KeyUsage"] == usage and meta[member] == algorithms
    assert "CurrentKeyMaterialId" not in meta


def test_create_key_errors(kms: Any) -> None:
    assert error_of(kms.create_key, KeySpec="HMAC_256") == (
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.", 400)
    assert error_of(kms.create_key, KeySpec="RSA_2048", KeyUsage="KEY_AGREEMENT") == (
        "ValidationException", "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048", 400)
    code, message, _ = error_of(kms.create_key, KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert code == "UnsupportedOperationException" and "SM2" in message
    code, _, _ = error_of(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-1234567890abcdef0")
    assert code == "CustomKeyStoreNotFoundException"
    assert kms.list_keys()["Keys"] == []


def test_identifier_errors(kms: Any) -> None:
    missing = "134f2428-cec1-4b25-a1ae-9048164dba47"
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}"
    assert error_of(kms.describe_key, KeyId=missing) == ("NotFoundException", f"Key '{arn}' does not exist", 400)
    assert error_of(kms.describe_key, KeyId=arn)[1] == f"Key '{arn}' does not exist"
    assert error_of(kms.describe_key, KeyId="fake-key-id")[1] == "Invalid keyId 'fake-key-id'"
    assert error_of(kms.describe_key, KeyId="134f2428cec14b25a1ae9048164dba47")[1] == (
        "Invalid keyId '134f2428cec14b25a1ae9048164dba47'")
    other = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{missing}"
    assert error_of(kms.describe_key, KeyId=other)[1] == "Invalid arn eu-west-1"


def test_regions_and_accounts_are_isolated(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    other_region = sim.client("kms", region="eu-west-1")
    code, message, _ = error_of(other_region.describe_key, KeyId=key_id)
    assert code == "NotFoundException" and f":eu-west-1:{ACCOUNT}:key/{key_id}" in message
    other_account = sim.client("kms", account="444455556666")
    assert other_account.list_keys()["Keys"] == []


def test_list_keys_pagination(kms: Any) -> None:
    created = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    seen: list[str] = []
    page = kms.list_keys(Limit=2)
    while True:
        seen += [k["KeyId"] for k in page["Keys"]]
        assert all(k["KeyArn"].endswith(k["KeyId"]) for k in page["Keys"])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        page = kms.list_keys(Limit=2, Marker=page["NextMarker"])
    assert seen == created
    assert error_of(kms.list_keys, Marker="not-a-marker")[0] == "InvalidMarkerException"


def test_enable_disable(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    kms.enable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_and_cancel_deletion(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyId"] == arn and scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["Enabled"] is False and "DeletionDate" in meta
    assert error_of(kms.schedule_key_deletion, KeyId=key_id) == (
        "KMSInvalidStateException", f"{arn} is pending deletion.", 400)
    assert error_of(kms.enable_key, KeyId=key_id)[:2] == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and "DeletionDate" not in meta
    assert error_of(kms.cancel_key_deletion, KeyId=key_id)[:2] == (
        "KMSInvalidStateException", f"{arn} is not pending deletion.")


def test_deletion_happens_on_the_simulated_clock(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    sim.advance(6 * 86400)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    sim.advance(86400 + 1)
    assert error_of(kms.describe_key, KeyId=key_id)[0] == "NotFoundException"
    assert kms.list_keys()["Keys"] == []


def test_pending_window_bounds(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for days, bound in ((6, "greater than or equal to 7"), (31, "less than or equal to 30")):
        code, message, _ = error_of(kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=days)
        assert code == "ValidationException" and bound in message
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_update_description_and_last_usage(kms: Any) -> None:
    key_id = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="after")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "after"
    usage = kms.get_key_last_usage(KeyId=key_id)
    assert "KeyLastUsage" not in usage and usage["KeyCreationDate"] == usage["TrackingStartDate"]


def test_external_key_stores_say_unsupported(kms: Any) -> None:
    code, message, status = error_of(kms.create_custom_key_store, CustomKeyStoreName="xks",
                                     CustomKeyStoreType="EXTERNAL_KEY_STORE")
    assert (code, status) == ("UnsupportedOperationException", 400) and "External key stores" in message
    assert error_of(kms.create_key, Origin="EXTERNAL_KEY_STORE")[0] == "UnsupportedOperationException"
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []


def test_list_keys_resource_owners(kms: Any) -> None:
    """No AWS RAM here: OTHER_ACCOUNTS_VIA_RAM adds no keys; SELF (the default) lists the account's own."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert [k["KeyId"] for k in kms.list_keys(ResourceOwners=["SELF"])["Keys"]] == [key_id]
    assert [k["KeyId"] for k in kms.list_keys(ResourceOwners=["SELF", "OTHER_ACCOUNTS_VIA_RAM"])["Keys"]] == [key_id]
    assert kms.list_keys(ResourceOwners=["OTHER_ACCOUNTS_VIA_RAM"]) | {"ResponseMetadata": None} == {
        "Keys": [], "Truncated": False, "ResponseMetadata": None}


def test_reset_forgets_keys_and_their_cached_material(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before reset")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before reset"  # the key is now cached
    status, _ = sim.control("POST", "/_hsmsim/reset")
    assert status == 200
    assert kms.list_keys()["Keys"] == []
    assert error_of(kms.decrypt, CiphertextBlob=blob)[0] == "NotFoundException"
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "NotFoundException"
