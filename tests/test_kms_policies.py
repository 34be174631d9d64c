"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the key policy deciding cross-account use
(spec/kms-real-responses.md 2.1 ReplicaPolicy, 3.12)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

OTHER = "444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
LOCKOUT = "The new key policy will not allow you to update the key policy in the future."


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


def deny(principal: Any, action: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": action, "Resource": "*"}


def not_allowed(caller: str, operation: str, arn: str) -> tuple[str, str, int]:
    message = (f"User: arn:aws:iam::{caller}:root is not authorized to perform: kms:{operation} on resource: "
               f"{arn} because no resource-based policy allows the kms:{operation} action")
    return ("AccessDeniedException", message, 400)


def test_default_policy_and_names(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    got = kms.get_key_policy(KeyId=key_id)
    assert got["PolicyName"] == "default"
    assert json.loads(got["Policy"]) == {
        "Version": "2012-10-17", "Id": "key-default-1",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT},
                       "Action": "kms:*", "Resource": "*"}]}
    assert list(json.loads(got["Policy"])) == ["Version", "Id", "Statement"]
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == got["Policy"]
    listed = kms.list_key_policies(KeyId=key_id)
    assert listed["PolicyNames"] == ["default"] and listed["Truncated"] is False
    assert kms.list_key_policies(KeyId=key_id, Limit=1)["PolicyNames"] == ["default"]
    assert error_of(kms.get_key_policy, KeyId=key_id, PolicyName="AWS_RAM")[0] == "NotFoundException"
    assert error_of(kms.get_key_policy, KeyId="alias/x") == ("NotFoundException", "Invalid keyId 'alias/x'", 400)


def test_put_key_policy_replaces_it(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    new = policy(allow({"AWS": ROOT}), allow({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Reader"}, ["kms:Decrypt"]))
    kms.put_key_policy(KeyId=meta["Arn"], PolicyName="default", Policy=new)
    assert kms.get_key_policy(KeyId=meta["KeyId"])["Policy"] == new
    created = kms.create_key(Policy=new)["KeyMetadata"]
    assert kms.get_key_policy(KeyId=created["KeyId"])["Policy"] == new


def test_put_key_policy_errors_change_nothing(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = kms.get_key_policy(KeyId=key_id)["Policy"]
    good = policy(allow({"AWS": ROOT}))
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy=good, PolicyName="AWS_RAM") == (
        "ValidationException", "The AWS_RAM policy can only be managed by the RAM service.", 400)
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy="{not json")[0] == "MalformedPolicyDocumentException"
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy=json.dumps({"Version": "2012-10-17"}))[0] == (
        "MalformedPolicyDocumentException")
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy=policy(allow({"AWS": "bob"}))) == (
        "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals.", 400)
    no_principal = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy=policy(no_principal))[0] == (
        "MalformedPolicyDocumentException")
    padded = policy(allow({"AWS": ROOT})) + " " * 32768
    code, _, status = error_of(kms.put_key_policy, KeyId=key_id, Policy=padded)
    assert (code, status) == ("LimitExceededException", 400)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == before


@pytest.mark.parametrize(
    ("statements", "locks_out"),
    [
        ([allow({"AWS": OTHER_ROOT})], True),
        ([allow({"AWS": ROOT}, ["kms:Encrypt", "kms:Decrypt"])], True),
        ([allow({"AWS": ROOT}), deny({"AWS": ROOT}, "kms:PutKeyPolicy")], True),
        ([allow({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Admin"})], True),
        ([allow({"AWS": ROOT}, "kms:Put*")], False),
        ([allow({"AWS": ACCOUNT}, ["kms:PutKeyPolicy"])], False),
        ([allow("*")], False),
        ([allow({"AWS": [OTHER_ROOT, ROOT]})], False),
    ],
)
def test_lockout_safety_check(kms: Any, statements: list[dict[str, Any]], locks_out: bool) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = kms.get_key_policy(KeyId=key_id)["Policy"]
    document = policy(*statements)
    if not locks_out:
        kms.put_key_policy(KeyId=key_id, Policy=document)
        kms.put_key_policy(KeyId=key_id, Policy=before)  # the owner can still change it
        assert kms.get_key_policy(KeyId=key_id)["Policy"] == before
        return
    assert error_of(kms.put_key_policy, KeyId=key_id, Policy=document) == (
        "MalformedPolicyDocumentException", LOCKOUT, 400)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == before
    kms.put_key_policy(KeyId=key_id, Policy=document, BypassPolicyLockoutSafetyCheck=True)
    # As AWS warns, the owner locked itself out: the policy can no longer be changed.
    code, message, _ = error_of(kms.put_key_policy, KeyId=key_id, Policy=before)
    assert code == "AccessDeniedException" and "kms:PutKeyPolicy" in message


def test_create_key_runs_the_lockout_check(kms: Any) -> None:
    locked = policy(allow({"AWS": ROOT}, ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]))
    assert error_of(kms.create_key, Policy=locked) == ("MalformedPolicyDocumentException", LOCKOUT, 400)
    assert kms.list_keys()["Keys"] == []
    key_id = kms.create_key(Policy=locked, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"allowed")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"allowed"
    for call, kwargs in ((kms.disable_key, {}), (kms.generate_data_key, {"KeySpec": "AES_256"}),
                         (kms.get_key_policy, {})):
        code, message, _ = error_of(call, KeyId=key_id, **kwargs)
        assert code == "AccessDeniedException" and key_id in message
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_policies_of_keys_in_any_state(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    document = policy(allow({"AWS": ROOT}))
    kms.put_key_policy(KeyId=key_id, Policy=document)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == document
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]


# -- cross-account use ------------------------------------------------------------------------------------------


def test_another_account_needs_the_key_policy(sim: Any, kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/shared", TargetKeyId=meta["KeyId"])
    other = sim.client("kms", account=OTHER)
    assert error_of(other.describe_key, KeyId=meta["Arn"]) == not_allowed(OTHER, "DescribeKey", meta["Arn"])
    assert error_of(other.encrypt, KeyId=meta["Arn"], Plaintext=b"x") == not_allowed(OTHER, "Encrypt", meta["Arn"])
    alias = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/shared"
    assert error_of(other.encrypt, KeyId=alias, Plaintext=b"x") == not_allowed(OTHER, "Encrypt", meta["Arn"])
    code, message, _ = error_of(other.describe_key, KeyId=meta["KeyId"])  # a bare id names the caller's own key
    assert code == "NotFoundException" and f":{OTHER}:key/{meta['KeyId']}" in message

    kms.put_key_policy(KeyId=meta["KeyId"], Policy=policy(allow({"AWS": ROOT}), allow({"AWS": OTHER_ROOT})))
    assert other.describe_key(KeyId=meta["Arn"])["KeyMetadata"] == meta
    sealed = other.encrypt(KeyId=alias, Plaintext=b"from the other account")
    assert sealed["KeyId"] == meta["Arn"]
    assert kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"])["Plaintext"] == b"from the other account"
    # The blob names the key's account: the other account decrypts without KeyId, as the policy allows it.
    assert other.decrypt(CiphertextBlob=sealed["CiphertextBlob"])["Plaintext"] == b"from the other account"
    mine = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"owner")["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=mine)["KeyId"] == meta["Arn"]
    assert error_of(other.tag_resource, KeyId=meta["Arn"], Tags=[{"TagKey": "a", "TagValue": "b"}]) == (
        not_allowed(OTHER, "TagResource", meta["Arn"]))
    assert error_of(other.get_key_policy, KeyId=meta["Arn"]) == not_allowed(OTHER, "GetKeyPolicy", meta["Arn"])
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == []
    kms.put_key_policy(KeyId=meta["KeyId"], Policy=policy(allow({"AWS": ROOT})))
    assert error_of(other.decrypt, CiphertextBlob=mine) == not_allowed(OTHER, "Decrypt", meta["Arn"])


@pytest.mark.parametrize("principal", [{"AWS": OTHER}, "*", {"AWS": "*"}, {"AWS": [OTHER_ROOT]}])
def test_principals_that_name_another_account(sim: Any, kms: Any, principal: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    kms.put_key_policy(KeyId=meta["KeyId"], Policy=policy(allow({"AWS": ROOT}), allow(principal, "kms:Encrypt")))
    other = sim.client("kms", account=OTHER)
    assert other.encrypt(KeyId=meta["Arn"], Plaintext=b"x")["KeyId"] == meta["Arn"]
    assert error_of(other.describe_key, KeyId=meta["Arn"]) == not_allowed(OTHER, "DescribeKey", meta["Arn"])


def test_conditions_and_explicit_deny(sim: Any, kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    third = sim.client("kms", account="777788889999")
    other = sim.client("kms", account=OTHER)
    only_other = allow("*", "kms:Describe*", Condition={"StringEquals": {"kms:CallerAccount": OTHER}})
    kms.put_key_policy(KeyId=meta["KeyId"], Policy=policy(
        allow({"AWS": ROOT}), only_other, allow({"AWS": OTHER_ROOT}, "kms:Encrypt"), deny("*", "kms:Encrypt")))
    assert other.describe_key(KeyId=meta["Arn"])["KeyMetadata"]["KeyId"] == meta["KeyId"]
    assert error_of(third.describe_key, KeyId=meta["Arn"]) == not_allowed("777788889999", "DescribeKey", meta["Arn"])
    explicit = (f"User: {OTHER_ROOT} is not authorized to perform: kms:Encrypt on resource: {meta['Arn']} "
                "with an explicit deny in a resource-based policy")
    assert error_of(other.encrypt, KeyId=meta["Arn"], Plaintext=b"x") == ("AccessDeniedException", explicit, 400)


def test_aws_managed_keys_are_not_shared(sim: Any, kms: Any) -> None:
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    other = sim.client("kms", account=OTHER)
    assert error_of(other.encrypt, KeyId=meta["Arn"], Plaintext=b"x") == not_allowed(OTHER, "Encrypt", meta["Arn"])
    assert kms.encrypt(KeyId=meta["Arn"], Plaintext=b"x")["KeyId"] == meta["Arn"]
