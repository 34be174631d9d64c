"""Principals in KMS authorization (issue 10 item 5): a real server started with ``--credentials FILE``, boto3
clients signing with the file's keys.

The key policy names users by ARN, its account-root statement delegates to the caller's ``iam_policy``, explicit
Deny wins in either, conditions see the principal and the encryption context, grants authorize their grantee by ARN
and RetireGrant is checked. Without the file nothing changes (tests/test_kms_policies.py, tests/test_kms_grants.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from hsmsim.aws.credentials import CredentialsFileError, parse_credentials
from tests.conftest import ServerProcess

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB_ARN = f"arn:aws:iam::{ACCOUNT}:user/bob"
CAROL_ARN = f"arn:aws:iam::{ACCOUNT}:user/carol"
DAVE_ARN = f"arn:aws:iam::{ACCOUNT}:role/dave"


def iam(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def user(key: str, principal: str | None, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"access_key_id": key, "secret_access_key": f"{key}-secret", "account_id": ACCOUNT}
    if principal is not None:
        entry["principal"] = principal
    if policy is not None:
        entry["iam_policy"] = policy
    return entry


ADMIN = user("AKIDADMIN", None)  # the account's root
ALICE = user("AKIDALICE", ALICE_ARN)  # no IAM policy: only what a key policy or grant names her for
BOB = user("AKIDBOB", BOB_ARN)  # no IAM policy
CAROL = user("AKIDCAROL", CAROL_ARN, iam({"Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"],
                                          "Resource": "*"}))
DAVE = user("AKIDDAVE", DAVE_ARN, iam({"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                                      {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}))
ERIN = user("AKIDERIN", f"arn:aws:iam::{ACCOUNT}:user/erin",
            iam({"Effect": "Allow", "Action": "kms:*", "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"}))
FRANK = user("AKIDFRANK", f"arn:aws:iam::{ACCOUNT}:user/frank",
             iam({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                  "Condition": {"StringEquals": {"kms:EncryptionContext:team": "blue"}}}))
OTHER = "444455556666"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
OTHER_ADMIN = {"access_key_id": "AKIDOTHER", "secret_access_key": "other-secret", "account_id": OTHER}
OTHER_GRACE = {"access_key_id": "AKIDGRACE", "secret_access_key": "grace-secret", "account_id": OTHER,
               "principal": f"arn:aws:iam::{OTHER}:user/grace",
               "iam_policy": iam({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"})}
OTHER_HEIDI = {"access_key_id": "AKIDHEIDI", "secret_access_key": "heidi-secret", "account_id": OTHER,
               "principal": f"arn:aws:iam::{OTHER}:user/heidi"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("principals")
    credentials = root / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ADMIN, ALICE, BOB, CAROL, DAVE, ERIN, FRANK, OTHER_ADMIN, OTHER_GRACE, OTHER_HEIDI]}))
    process = ServerProcess(root / "data", args=["--credentials", str(credentials)])
    yield process.start()
    process.stop()


def kms(server: ServerProcess, credential: dict[str, Any]) -> Any:
    return boto3.client("kms", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=credential["access_key_id"],
                        aws_secret_access_key=credential["secret_access_key"],
                        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}))


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: str, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": "*", **extra}


def deny(principal: str, action: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": {"AWS": principal}, "Action": action, "Resource": "*"}


def new_key(server: ServerProcess, *statements: dict[str, Any]) -> dict[str, Any]:
    """A key the account's root creates; with statements, its key policy (lockout check bypassed)."""
    if not statements:
        return kms(server, ADMIN).create_key()["KeyMetadata"]
    return kms(server, ADMIN).create_key(Policy=policy(*statements),
                                         BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    """The message of the AccessDeniedException the call must raise."""
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    return str(error["Message"])


def message(principal: str, operation: str, arn: str, reason: str) -> str:
    action = f"kms:{operation}"
    reasons = {"resource": f"because no resource-based policy allows the {action} action",
               "identity": f"because no identity-based policy allows the {action} action",
               "resource deny": "with an explicit deny in a resource-based policy",
               "identity deny": "with an explicit deny in an identity-based policy"}
    return f"User: {principal} is not authorized to perform: {action} on resource: {arn} {reasons[reason]}"


# -- key policy principals ---------------------------------------------------------------------------------------


def test_the_account_root_works_as_before(server: ServerProcess) -> None:
    key = new_key(server)
    admin = kms(server, ADMIN)
    blob = admin.encrypt(KeyId=key["KeyId"], Plaintext=b"root")["CiphertextBlob"]
    assert admin.decrypt(CiphertextBlob=blob)["Plaintext"] == b"root"


def test_a_user_named_in_the_key_policy_is_allowed_without_an_iam_policy(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), allow(ALICE_ARN, ["kms:Encrypt", "kms:Decrypt"]))
    alice = kms(server, ALICE)
    blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=b"alice")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"alice"
    # bob is in the same account: the root statement delegates to his IAM policy, which allows nothing
    assert refused(kms(server, BOB).encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        BOB_ARN, "Encrypt", key["Arn"], "identity")
    # alice is named for Encrypt and Decrypt only
    assert refused(alice.describe_key, KeyId=key["KeyId"]) == message(ALICE_ARN, "DescribeKey", key["Arn"],
                                                                       "identity")


def test_a_policy_naming_only_alice_refuses_bob_and_names_the_user_arn(server: ServerProcess) -> None:
    key = new_key(server, allow(ALICE_ARN, ["kms:Encrypt"]))
    kms(server, ALICE).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert refused(kms(server, BOB).encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        BOB_ARN, "Encrypt", key["Arn"], "resource")
    # carol's IAM policy allows kms:Encrypt, but the key policy does not delegate to IAM
    assert refused(kms(server, CAROL).encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        CAROL_ARN, "Encrypt", key["Arn"], "resource")
    # AWS's text, with the user's ARN
    assert refused(kms(server, ALICE).schedule_key_deletion, KeyId=key["KeyId"]) == (
        f"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:ScheduleKeyDeletion on "
        f"resource: {key['Arn']} because no resource-based policy allows the kms:ScheduleKeyDeletion action")


def test_the_root_statement_delegates_to_the_iam_policy(server: ServerProcess) -> None:
    key = new_key(server)  # the default key policy: the account's root, kms:*
    carol = kms(server, CAROL)
    blob = carol.encrypt(KeyId=key["KeyId"], Plaintext=b"carol")["CiphertextBlob"]
    assert carol.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    assert refused(carol.decrypt, CiphertextBlob=blob) == message(CAROL_ARN, "Decrypt", key["Arn"], "identity")
    assert kms(server, ADMIN).decrypt(CiphertextBlob=blob)["Plaintext"] == b"carol"
    # an IAM policy's Resource limits it: erin's covers this account's keys in us-east-1
    kms(server, ERIN).encrypt(KeyId=key["KeyId"], Plaintext=b"erin")


def test_an_explicit_deny_in_the_iam_policy_beats_a_key_policy_allow(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), allow(DAVE_ARN))
    dave = kms(server, DAVE)
    assert refused(dave.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        DAVE_ARN, "Encrypt", key["Arn"], "identity deny")
    assert dave.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]


def test_an_explicit_deny_in_the_key_policy_beats_an_iam_allow(server: ServerProcess) -> None:
    erin_arn = ERIN["principal"]
    key = new_key(server, allow(ROOT), deny(erin_arn, "kms:Encrypt"))
    erin = kms(server, ERIN)
    assert refused(erin.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        erin_arn, "Encrypt", key["Arn"], "resource deny")
    erin.describe_key(KeyId=key["KeyId"])
    kms(server, ADMIN).encrypt(KeyId=key["KeyId"], Plaintext=b"x")  # the deny names erin only
    # a deny of the account denies its users too, and its root
    denied_all = new_key(server, allow(ROOT), deny(ROOT, "kms:Encrypt"))
    assert refused(erin.encrypt, KeyId=denied_all["KeyId"], Plaintext=b"x") == message(
        erin_arn, "Encrypt", denied_all["Arn"], "resource deny")
    assert refused(kms(server, ADMIN).encrypt, KeyId=denied_all["KeyId"], Plaintext=b"x") == message(
        ROOT, "Encrypt", denied_all["Arn"], "resource deny")


def test_another_accounts_principals_need_the_key_policy_and_their_iam_policy(server: ServerProcess) -> None:
    heidi_arn = OTHER_HEIDI["principal"]
    key = new_key(server, allow(ROOT), allow(OTHER_ROOT, ["kms:Encrypt", "kms:DescribeKey"]),
                  allow(heidi_arn, "kms:Encrypt"))
    kms(server, OTHER_ADMIN).encrypt(KeyId=key["Arn"], Plaintext=b"x")  # the other account's root
    kms(server, OTHER_GRACE).encrypt(KeyId=key["Arn"], Plaintext=b"x")  # delegated, and her IAM policy allows
    assert refused(kms(server, OTHER_GRACE).describe_key, KeyId=key["Arn"]) == message(
        OTHER_GRACE["principal"], "DescribeKey", key["Arn"], "identity")
    # named in the key policy, but another account's principal needs its own IAM policy too
    assert refused(kms(server, OTHER_HEIDI).encrypt, KeyId=key["Arn"], Plaintext=b"x") == message(
        heidi_arn, "Encrypt", key["Arn"], "identity")


def test_not_principal_in_a_deny(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), allow(ALICE_ARN, "kms:Encrypt"), {
        "Effect": "Deny", "NotPrincipal": {"AWS": [ALICE_ARN, ROOT]}, "Action": "kms:Encrypt", "Resource": "*"})
    kms(server, ALICE).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms(server, ADMIN).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    # naming the account excludes its root, not carol: denied although her IAM policy allows
    assert refused(kms(server, CAROL).encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        CAROL_ARN, "Encrypt", key["Arn"], "resource deny")


# -- conditions --------------------------------------------------------------------------------------------------


def test_a_condition_on_the_principal_arn(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), {
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": ALICE_ARN}, "StringEquals": {"kms:CallerAccount": ACCOUNT},
                      "Bool": {"kms:GrantIsForAWSResource": "false"}}})
    kms(server, ALICE).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert refused(kms(server, BOB).encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        BOB_ARN, "Encrypt", key["Arn"], "identity")


def test_a_condition_on_the_encryption_context_is_checked_per_request(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), allow(ALICE_ARN, ["kms:Encrypt", "kms:Decrypt"], Condition={
        "StringEquals": {"kms:EncryptionContext:purpose": "test"}}))
    alice = kms(server, ALICE)
    blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"purpose": "test"})["CiphertextBlob"]
    # the same key and caller again: the first Allow must not be remembered for other contexts
    for context in ({"purpose": "prod"}, {}, {"other": "test"}):
        assert refused(alice.encrypt, KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context) == message(
            ALICE_ARN, "Encrypt", key["Arn"], "identity")
    assert alice.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "test"})["Plaintext"] == b"x"
    # a Deny on a context key, and kms:EncryptionContextKeys
    guarded = new_key(server, allow(ROOT), allow(ALICE_ARN, "kms:Encrypt"), {
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "secret"}}})
    alice.encrypt(KeyId=guarded["KeyId"], Plaintext=b"x", EncryptionContext={"purpose": "ok"})
    assert refused(alice.encrypt, KeyId=guarded["KeyId"], Plaintext=b"x",
                   EncryptionContext={"secret": "1"}) == message(ALICE_ARN, "Encrypt", guarded["Arn"],
                                                                 "resource deny")


def test_a_deny_on_an_encryption_context_value_if_it_exists(server: ServerProcess) -> None:
    guarded = new_key(server, allow(ROOT), {
        "Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"kms:EncryptionContext:tier": "gold"}}})
    carol = kms(server, CAROL)
    carol.encrypt(KeyId=guarded["KeyId"], Plaintext=b"x", EncryptionContext={"tier": "gold"})
    for context in ({"tier": "silver"}, {}):  # without the key, ...IfExists holds: denied as well
        assert refused(carol.encrypt, KeyId=guarded["KeyId"], Plaintext=b"x",
                       EncryptionContext=context) == message(CAROL_ARN, "Encrypt", guarded["Arn"], "resource deny")
    # a positive operator on a missing key does not hold: this Deny spares a request without the key
    spared = new_key(server, allow(ROOT), {
        "Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:tier": "silver"}}})
    carol.encrypt(KeyId=spared["KeyId"], Plaintext=b"x")
    assert refused(carol.encrypt, KeyId=spared["KeyId"], Plaintext=b"x",
                   EncryptionContext={"tier": "silver"}) == message(CAROL_ARN, "Encrypt", spared["Arn"],
                                                                    "resource deny")


def test_an_iam_policy_condition_on_the_encryption_context(server: ServerProcess) -> None:
    key = new_key(server)
    frank = kms(server, FRANK)
    frank.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "blue"})
    assert refused(frank.encrypt, KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "red"}) == (
        message(FRANK["principal"], "Encrypt", key["Arn"], "identity"))
    frank.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "blue"})


# -- grants ------------------------------------------------------------------------------------------------------


def test_a_grant_to_alice_lets_alice_but_not_bob(server: ServerProcess) -> None:
    key = new_key(server)
    admin = kms(server, ADMIN)
    grant = admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=ALICE_ARN,
                               Operations=["Encrypt", "Decrypt"], RetiringPrincipal=BOB_ARN)
    alice = kms(server, ALICE)
    blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=b"granted")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"granted"
    assert refused(kms(server, BOB).encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        BOB_ARN, "Encrypt", key["Arn"], "identity")
    assert refused(alice.describe_key, KeyId=key["KeyId"]) == message(ALICE_ARN, "DescribeKey", key["Arn"],
                                                                       "identity")
    # retiring: alice is the grantee but the grant has no RetireGrant; carol is nobody in the grant
    for other, arn in ((alice, ALICE_ARN), (kms(server, CAROL), CAROL_ARN)):
        assert refused(other.retire_grant, KeyId=key["Arn"], GrantId=grant["GrantId"]) == message(
            arn, "RetireGrant", key["Arn"], "resource")
    assert refused(alice.retire_grant, GrantToken=grant["GrantToken"]) == message(
        ALICE_ARN, "RetireGrant", key["Arn"], "resource")
    assert [g["GrantId"] for g in admin.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    kms(server, BOB).retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])  # the retiring principal
    assert admin.list_grants(KeyId=key["KeyId"])["Grants"] == []
    assert refused(alice.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == message(
        ALICE_ARN, "Encrypt", key["Arn"], "identity")


def test_a_grant_to_alice_keeps_its_constraints_and_covers_re_encrypt(server: ServerProcess) -> None:
    source, target = new_key(server), new_key(server)
    admin = kms(server, ADMIN)
    for key in (source, target):
        admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=ALICE_ARN,
                           Operations=["Encrypt", "ReEncryptFrom", "ReEncryptTo"],
                           Constraints={"EncryptionContextSubset": {"app": "a"}})
    alice = kms(server, ALICE)
    blob = alice.encrypt(KeyId=source["KeyId"], Plaintext=b"x", EncryptionContext={"app": "a"})["CiphertextBlob"]
    assert refused(alice.encrypt, KeyId=source["KeyId"], Plaintext=b"x", EncryptionContext={"app": "b"}) == message(
        ALICE_ARN, "Encrypt", source["Arn"], "identity")
    moved = alice.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"app": "a"},
                             DestinationKeyId=target["KeyId"], DestinationEncryptionContext={"app": "a"})
    assert moved["KeyId"] == target["Arn"]
    assert refused(kms(server, BOB).re_encrypt, CiphertextBlob=blob, SourceEncryptionContext={"app": "a"},
                   DestinationKeyId=target["KeyId"]) == message(BOB_ARN, "ReEncryptFrom", source["Arn"], "identity")


def test_who_else_may_retire_a_grant(server: ServerProcess) -> None:
    key = new_key(server)
    admin = kms(server, ADMIN)
    # the grantee, when the grant includes RetireGrant
    grant = admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=ALICE_ARN, Operations=["Encrypt", "RetireGrant"])
    kms(server, ALICE).retire_grant(GrantToken=grant["GrantToken"])
    # the account the grant was created in: its root, and a user whose IAM policy allows kms:RetireGrant
    for retirer in (ADMIN, ERIN):
        grant = admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=ALICE_ARN, Operations=["Encrypt"])
        kms(server, retirer).retire_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert admin.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_revoke_grant_stays_policy_controlled(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), allow(ALICE_ARN, "kms:RevokeGrant"))
    grant = kms(server, ADMIN).create_grant(KeyId=key["KeyId"], GranteePrincipal=BOB_ARN, Operations=["Encrypt"])
    assert refused(kms(server, BOB).revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"]) == message(
        BOB_ARN, "RevokeGrant", key["Arn"], "identity")
    kms(server, ALICE).revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])


# -- the lockout safety check and the credentials file --------------------------------------------------------------


def test_the_lockout_check_is_about_the_calling_principal(server: ServerProcess) -> None:
    key = new_key(server, allow(ROOT), allow(ALICE_ARN, ["kms:PutKeyPolicy", "kms:GetKeyPolicy"]))
    alice = kms(server, ALICE)
    with pytest.raises(ClientError) as raised:  # the root statement alone would not let alice back in
        alice.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy(allow(ROOT)))
    assert raised.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"
    alice.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                         Policy=policy(allow(ROOT), allow(ALICE_ARN, "kms:PutKeyPolicy")))


def test_iam_policy_in_the_credentials_file() -> None:
    parsed = parse_credentials({"credentials": [CAROL]})
    assert json.loads(parsed[0].iam_policy or "") == CAROL["iam_policy"]
    assert parse_credentials({"credentials": [ALICE]})[0].iam_policy is None
    for entry, problem in [
        ({**ADMIN, "iam_policy": iam({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})},
         "iam_policy needs an IAM user or role principal"),
        ({**ALICE, "iam_policy": "kms:*"}, "iam_policy must be a policy document object"),
        ({**ALICE, "iam_policy": {"Statement": []}}, "iam_policy must have at least one Statement"),
        ({**ALICE, "iam_policy": iam({"Effect": "Allow", "Action": "kms:*", "Principal": "*"})},
         "must not have a Principal"),
        ({**ALICE, "iam_policy": iam({"Effect": "Maybe", "Action": "kms:*"})}, "needs an Effect of Allow or Deny"),
    ]:
        with pytest.raises(CredentialsFileError) as raised:
            parse_credentials({"credentials": [entry]})
        assert problem in str(raised.value)
