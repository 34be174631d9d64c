"""Aliases and AWS managed keys: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, lazy ``alias/aws/<service>``
keys (spec/kms-real-responses.md 1.3, 2.1, 3.4; spec/aws-semantics.md 5.1)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

PREFIX_MESSAGE = ('Alias must start with the prefix "alias/". '
                  'Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html')


def alias_arn(name: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"


def aliases(kms: Any, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = kms.list_aliases(**kwargs)
    while True:
        found += page["Aliases"]
        if not page["Truncated"]:
            return found
        page = kms.list_aliases(Marker=page["NextMarker"], **kwargs)


def customer_aliases(kms: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {a["AliasName"]: a for a in aliases(kms, **kwargs) if not a["AliasName"].startswith("alias/aws/")}


def test_create_alias_and_use_it(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app/main-key_1", TargetKeyId=key["Arn"])
    (entry,) = customer_aliases(kms).values()
    assert entry["AliasName"] == "alias/app/main-key_1" and entry["AliasArn"] == alias_arn("alias/app/main-key_1")
    assert entry["TargetKeyId"] == key["KeyId"]
    assert isinstance(entry["CreationDate"], datetime) and entry["LastUpdatedDate"] == entry["CreationDate"]
    assert kms.describe_key(KeyId="alias/app/main-key_1")["KeyMetadata"] == key
    assert kms.describe_key(KeyId=alias_arn("alias/app/main-key_1"))["KeyMetadata"] == key
    ciphertext = kms.encrypt(KeyId="alias/app/main-key_1", Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"hello"
    kms.create_alias(AliasName="alias/second", TargetKeyId=key["KeyId"])
    assert set(customer_aliases(kms, KeyId=key["KeyId"])) == {"alias/app/main-key_1", "alias/second"}


def test_alias_names(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    before = aliases(kms)
    assert error_of(kms.create_alias, AliasName="abcdef", TargetKeyId=key["KeyId"]) == (
        "ValidationException", PREFIX_MESSAGE, 400)
    assert error_of(kms.create_alias, AliasName="alias/bad name", TargetKeyId=key["KeyId"]) == (
        "ValidationException", ("1 validation error detected: Value 'alias/bad name' at 'aliasName' failed to "
                                "satisfy constraint: Member must satisfy regular expression pattern: "
                                "^[a-zA-Z0-9:/_-]+$"), 400)
    assert error_of(kms.create_alias, AliasName="alias/a:b", TargetKeyId=key["KeyId"]) == (
        "ValidationException", "alias/a:b contains invalid characters for an alias", 400)
    for call, kwargs in [(kms.create_alias, {"TargetKeyId": key["KeyId"]}),
                         (kms.update_alias, {"TargetKeyId": key["KeyId"]}), (kms.delete_alias, {})]:
        assert error_of(call, AliasName="alias/aws/mine", **kwargs) == ("NotAuthorizedException", "", 400)
        assert error_of(call, AliasName="alias/aws/s3", **kwargs) == ("NotAuthorizedException", "", 400)
    assert error_of(kms.update_alias, AliasName="nope", TargetKeyId=key["KeyId"])[1] == PREFIX_MESSAGE
    assert aliases(kms) == before


def test_create_alias_errors_change_nothing(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/taken", TargetKeyId=key["KeyId"])
    before = aliases(kms)
    other = kms.create_key()["KeyMetadata"]
    assert error_of(kms.create_alias, AliasName="alias/taken", TargetKeyId=other["KeyId"]) == (
        "AlreadyExistsException", f"An alias with the name {alias_arn('alias/taken')} already exists", 400)
    missing = "134f2428-cec1-4b25-a1ae-9048164dba47"
    assert error_of(kms.create_alias, AliasName="alias/new", TargetKeyId=missing) == (
        "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist", 400)
    assert error_of(kms.create_alias, AliasName="alias/new", TargetKeyId="alias/taken") == (
        "ValidationException", "Aliases must refer to keys. Not aliases", 400)
    assert error_of(kms.create_alias, AliasName="alias/new", TargetKeyId=alias_arn("alias/taken"))[0] == (
        "ValidationException")
    assert error_of(kms.create_alias, AliasName="alias/new", TargetKeyId="not-a-key") == (
        "NotFoundException", "Invalid keyId 'not-a-key'", 400)
    assert error_of(kms.delete_alias, AliasName="alias/unknown") == (
        "NotFoundException", f"Alias {alias_arn('alias/unknown')} is not found.", 400)
    assert error_of(kms.update_alias, AliasName="alias/unknown", TargetKeyId=key["KeyId"]) == (
        "NotFoundException", f"Alias {alias_arn('alias/unknown')} is not found.", 400)
    assert error_of(kms.describe_key, KeyId="alias/unknown") == (
        "NotFoundException", f"Alias {alias_arn('alias/unknown')} is not found.", 400)
    assert aliases(kms) == before


def test_aliases_are_per_region(sim: Any, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/shared-name", TargetKeyId=key["KeyId"])
    europe = sim.client("kms", region="eu-west-1")
    far = europe.create_key()["KeyMetadata"]
    europe.create_alias(AliasName="alias/shared-name", TargetKeyId=far["KeyId"])
    assert europe.describe_key(KeyId="alias/shared-name")["KeyMetadata"]["Arn"] == far["Arn"]
    assert kms.describe_key(KeyId="alias/shared-name")["KeyMetadata"]["Arn"] == key["Arn"]
    assert error_of(europe.create_alias, AliasName="alias/x", TargetKeyId=key["Arn"]) == (
        "NotFoundException", f"Invalid arn {REGION}", 400)


def test_alias_and_key_states(sim: Any, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    kms.create_alias(AliasName="alias/on-disabled", TargetKeyId=key["KeyId"])
    doomed = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=doomed["KeyId"])
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    before = aliases(kms)
    pending = f"{doomed['Arn']} is pending deletion."
    assert error_of(kms.create_alias, AliasName="alias/new", TargetKeyId=doomed["KeyId"]) == (
        "KMSInvalidStateException", pending, 400)
    assert error_of(kms.update_alias, AliasName="alias/on-disabled", TargetKeyId=doomed["KeyId"]) == (
        "KMSInvalidStateException", pending, 400)
    assert aliases(kms) == before
    kms.update_alias(AliasName="alias/doomed", TargetKeyId=key["KeyId"])  # the old target may be pending deletion
    kms.create_alias(AliasName="alias/doomed-2", TargetKeyId=key["KeyId"])
    assert customer_aliases(kms)["alias/doomed"]["TargetKeyId"] == key["KeyId"]
    kms.delete_alias(AliasName="alias/doomed-2")
    last = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/goes-with-key", TargetKeyId=last["KeyId"])
    kms.schedule_key_deletion(KeyId=last["KeyId"], PendingWindowInDays=7)
    sim.advance(7 * 86400 + 60)
    assert set(customer_aliases(kms)) == {"alias/on-disabled", "alias/doomed"}


def test_update_alias(sim: Any, kms: Any) -> None:
    first = kms.create_key()["KeyMetadata"]
    second = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/rolling", TargetKeyId=first["KeyId"])
    created = customer_aliases(kms)["alias/rolling"]
    sim.advance(60)
    kms.update_alias(AliasName="alias/rolling", TargetKeyId=second["Arn"])
    updated = customer_aliases(kms)["alias/rolling"]
    assert updated["TargetKeyId"] == second["KeyId"]
    assert updated["CreationDate"] == created["CreationDate"] and updated["LastUpdatedDate"] > created["CreationDate"]
    assert kms.describe_key(KeyId="alias/rolling")["KeyMetadata"]["KeyId"] == second["KeyId"]
    assert customer_aliases(kms, KeyId=first["KeyId"]) == {}


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
         True),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
         {"KeySpec": "HMAC_512", "KeyUsage": "GENERATE_VERIFY_MAC"}, True),
        ({}, {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, False),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
         False),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, {}, False),
    ],
)
def test_update_alias_needs_same_type_and_usage(kms: Any, current: dict[str, str], new: dict[str, str],
                                                allowed: bool) -> None:
    old_key = kms.create_key(**current)["KeyMetadata"]
    new_key = kms.create_key(**new)["KeyMetadata"]
    kms.create_alias(AliasName="alias/typed", TargetKeyId=old_key["KeyId"])
    if allowed:
        kms.update_alias(AliasName="alias/typed", TargetKeyId=new_key["KeyId"])
        assert customer_aliases(kms)["alias/typed"]["TargetKeyId"] == new_key["KeyId"]
        return
    code, message, status = error_of(kms.update_alias, AliasName="alias/typed", TargetKeyId=new_key["KeyId"])
    assert (code, status) == ("ValidationException", 400)
    assert "must be the same type and have the same key usage" in message and new_key["Arn"] in message
    assert customer_aliases(kms)["alias/typed"]["TargetKeyId"] == old_key["KeyId"]


def test_fifty_aliases_per_key(kms: Any) -> None:
    full = kms.create_key()["KeyMetadata"]
    spare = kms.create_key()["KeyMetadata"]
    for index in range(50):
        kms.create_alias(AliasName=f"alias/full-{index:02d}", TargetKeyId=full["KeyId"])
        kms.create_alias(AliasName=f"alias/spare-{index:02d}", TargetKeyId=spare["KeyId"])
    code, message, status = error_of(kms.create_alias, AliasName="alias/one-too-many", TargetKeyId=full["KeyId"])
    assert (code, status) == ("LimitExceededException", 400) and full["Arn"] in message
    code, _, _ = error_of(kms.update_alias, AliasName="alias/spare-00", TargetKeyId=full["KeyId"])
    assert code == "LimitExceededException"
    assert len(customer_aliases(kms, KeyId=full["KeyId"])) == 50
    assert len(customer_aliases(kms, KeyId=spare["KeyId"])) == 50
    page = kms.list_aliases(Limit=1000)  # ListAliases returns at most 100 per page
    assert len(page["Aliases"]) == 100 and page["Truncated"] is True
    kms.delete_alias(AliasName="alias/full-00")
    kms.create_alias(AliasName="alias/one-too-many", TargetKeyId=full["KeyId"])


def test_list_aliases_filter_and_pages(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    for name in ("alias/c", "alias/a", "alias/b"):
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    kms.create_alias(AliasName="alias/z-other", TargetKeyId=other["KeyId"])
    first = kms.list_aliases(KeyId=key["Arn"], Limit=2)
    assert [a["AliasName"] for a in first["Aliases"]] == ["alias/a", "alias/b"] and first["Truncated"] is True
    rest = kms.list_aliases(KeyId=key["Arn"], Limit=2, Marker=first["NextMarker"])
    assert [a["AliasName"] for a in rest["Aliases"]] == ["alias/c"] and rest["Truncated"] is False
    assert "NextMarker" not in rest
    names = [a["AliasName"] for a in aliases(kms, Limit=3)]
    assert names == sorted(names) and len(names) == len(set(names))
    assert {"alias/a", "alias/b", "alias/c", "alias/z-other", "alias/aws/s3", "alias/aws/ebs"} <= set(names)
    missing = "134f2428-cec1-4b25-a1ae-9048164dba47"
    assert error_of(kms.list_aliases, KeyId=missing) == (
        "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist", 400)
    assert error_of(kms.list_aliases, KeyId="alias/a") == ("NotFoundException", "Invalid keyId 'alias/a'", 400)
    assert error_of(kms.list_aliases, Marker="bad-marker")[0] == "InvalidMarkerException"


# -- AWS managed keys ------------------------------------------------------------------------------------------


def test_predefined_aws_aliases_are_listed_unbound(kms: Any) -> None:
    listed = {a["AliasName"]: a for a in aliases(kms)}
    assert listed["alias/aws/s3"] == {"AliasName": "alias/aws/s3", "AliasArn": alias_arn("alias/aws/s3")}
    assert "alias/aws/dynamodb" in listed and "alias/aws/ebs" in listed
    assert kms.list_keys()["Keys"] == []


def test_aws_managed_key_is_created_on_first_use(kms: Any) -> None:
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["Description"] == "Default key that protects my S3 objects when no other key is defined"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["Origin"] == "AWS_KMS" and meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert len(meta["CurrentKeyMaterialId"]) == 64 and meta["MultiRegion"] is False
    assert kms.describe_key(KeyId=alias_arn("alias/aws/s3"))["KeyMetadata"] == meta
    assert kms.list_keys()["Keys"] == [{"KeyId": meta["KeyId"], "KeyArn": meta["Arn"]}]
    entry = {a["AliasName"]: a for a in aliases(kms)}["alias/aws/s3"]
    assert entry["TargetKeyId"] == meta["KeyId"] and isinstance(entry["CreationDate"], datetime)
    assert [a["AliasName"] for a in aliases(kms, KeyId=meta["KeyId"])] == ["alias/aws/s3"]
    status = kms.get_key_rotation_status(KeyId=meta["KeyId"])
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    assert (status["NextRotationDate"] - meta["CreationDate"]).days == 365


def test_aws_managed_key_encrypts_through_its_alias(kms: Any) -> None:
    """Encrypt is the first use here: the key is created by an in-memory operation's unit of work."""
    result = kms.encrypt(KeyId="alias/aws/dynamodb", Plaintext=b"table data")
    meta = kms.describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]
    assert result["KeyId"] == meta["Arn"]
    assert meta["Description"] == "Default key that protects my DynamoDB data when no other key is defined"
    assert kms.decrypt(CiphertextBlob=result["CiphertextBlob"])["Plaintext"] == b"table data"
    again = kms.generate_data_key(KeyId=alias_arn("alias/aws/dynamodb"), KeySpec="AES_256")
    assert again["KeyId"] == meta["Arn"] and len(kms.list_keys()["Keys"]) == 1


def test_aws_managed_key_policy(kms: Any) -> None:
    meta = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"])["Policy"])
    via, direct = policy["Statement"]
    assert via["Principal"] == {"AWS": "*"} and "kms:Encrypt" in via["Action"]
    assert via["Condition"]["StringEquals"] == {"kms:CallerAccount": ACCOUNT,
                                                "kms:ViaService": f"ec2.{REGION}.amazonaws.com"}
    assert direct["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert direct["Action"] == ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"]


def denied(operation: str, arn: str) -> tuple[str, str, int]:
    message = (f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:{operation} on resource: "
               f"{arn} because no resource-based policy allows the kms:{operation} action")
    return ("AccessDeniedException", message, 400)


def test_aws_managed_keys_cannot_be_managed(kms: Any) -> None:
    meta = kms.describe_key(KeyId="alias/aws/lambda")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    policy = kms.get_key_policy(KeyId=key_id)["Policy"]
    assert error_of(kms.disable_key, KeyId=key_id) == denied("DisableKey", arn)
    assert error_of(kms.schedule_key_deletion, KeyId=key_id) == denied("ScheduleKeyDeletion", arn)
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy=policy) == denied("PutKeyPolicy", arn)
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "b"}]) == (
        denied("TagResource", arn))
    assert error_of(kms.untag_resource, KeyId=key_id, TagKeys=["a"]) == denied("UntagResource", arn)
    assert error_of(kms.create_alias, AliasName="alias/mine", TargetKeyId=key_id) == denied("CreateAlias", arn)
    mine = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/mine", TargetKeyId=mine["KeyId"])
    assert error_of(kms.update_alias, AliasName="alias/mine", TargetKeyId=arn) == denied("UpdateAlias", arn)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"] == meta
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert [a["AliasName"] for a in aliases(kms, KeyId=key_id)] == ["alias/aws/lambda"]


def test_unknown_aws_alias_is_not_created(kms: Any) -> None:
    assert error_of(kms.describe_key, KeyId="alias/aws/no-such-service") == (
        "NotFoundException", f"Alias {alias_arn('alias/aws/no-such-service')} is not found.", 400)
    assert kms.list_keys()["Keys"] == []


def test_aws_managed_key_rotates_every_year(sim: Any, kms: Any) -> None:
    sealed = kms.encrypt(KeyId="alias/aws/sqs", Plaintext=b"queued")["CiphertextBlob"]
    before = kms.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]["CurrentKeyMaterialId"]
    sim.advance(365 * 86400 + 60)
    after = kms.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]["CurrentKeyMaterialId"]
    assert after != before and len(after) == 64
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"queued"


def test_aws_managed_keys_cannot_be_managed_by_their_account(kms: Any) -> None:
    """Their key policy lets the account use and read them, not manage them (AccessDeniedException)."""
    meta = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    for call, kwargs in ((kms.disable_key, {}), (kms.enable_key, {}), (kms.schedule_key_deletion, {}),
                         (kms.update_key_description, {"Description": "mine now"}),
                         (kms.put_key_policy, {"Policy": "{}", "PolicyName": "default"})):
        code, message, status = error_of(call, KeyId=meta["KeyId"], **kwargs)
        assert (code, status) == ("AccessDeniedException", 400) and meta["Arn"] in message
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"] == meta
