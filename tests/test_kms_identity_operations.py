"""IAM checks of KMS operations that act on no key (issue 10 item 5, the README's last gap): a real server started
with ``--credentials FILE``, boto3 clients signing with the file's keys.

CreateKey, ListKeys, ListAliases, GenerateRandom, ListRetirableGrants and the custom key store operations are
authorized by IAM policies alone, on resource ``*``; CreateAlias, UpdateAlias and DeleteAlias need the caller's IAM
policy on the alias ARN and the key policy of every affected key
(https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html). The account's root is
not governed by IAM. Without the file nothing changes (tests/test_kms_keys.py, tests/test_kms_aliases.py, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ServerProcess
from tests.test_kms_principals import ACCOUNT, ALICE, ALICE_ARN, ROOT, allow, iam, kms, message, policy, refused, user

ADMIN = user("AKIDADMIN", None)  # the account's root
PAT_ARN = f"arn:aws:iam::{ACCOUNT}:user/pat"
PAT = user("AKIDPAT", PAT_ARN, iam({"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"}))
QUINN_ARN = f"arn:aws:iam::{ACCOUNT}:role/quinn"
QUINN = user("AKIDQUINN", QUINN_ARN, iam({"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                                         {"Effect": "Deny", "Action": ["kms:GenerateRandom", "kms:Create*"],
                                          "Resource": "*"}))
RUTH_ARN = f"arn:aws:iam::{ACCOUNT}:user/ruth"  # kms:* on keys only: no resource-less action is covered
RUTH = user("AKIDRUTH", RUTH_ARN, iam({"Effect": "Allow", "Action": "kms:*",
                                       "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"}))
IVAN_ARN = f"arn:aws:iam::{ACCOUNT}:user/ivan"
IVAN_ALIASES = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/ivan-*"
IVAN = user("AKIDIVAN", IVAN_ARN, iam({"Effect": "Allow", "Action": ["kms:CreateAlias", "kms:UpdateAlias",
                                                                     "kms:DeleteAlias"], "Resource": IVAN_ALIASES}))
ALIAS_ACTIONS = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("identity-operations")
    credentials = root / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ADMIN, ALICE, PAT, QUINN, RUTH, IVAN]}))
    process = ServerProcess(root / "data", args=["--credentials", str(credentials)])
    yield process.start()
    process.stop()


def alias_arn(name: str) -> str:
    return f"arn:aws:kms:us-east-1:{ACCOUNT}:{name}"


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_a_user_without_an_iam_policy_may_not_call_operations_without_a_key(server: ServerProcess) -> None:
    alice = kms(server, ALICE)
    calls: list[tuple[str, Any, dict[str, Any]]] = [
        ("CreateKey", alice.create_key, {}),
        ("ListKeys", alice.list_keys, {}),
        ("GenerateRandom", alice.generate_random, {"NumberOfBytes": 16}),
        ("ListAliases", alice.list_aliases, {}),
        ("ListRetirableGrants", alice.list_retirable_grants, {"RetiringPrincipal": ALICE_ARN}),
        ("DescribeCustomKeyStores", alice.describe_custom_key_stores, {}),
        ("ConnectCustomKeyStore", alice.connect_custom_key_store, {"CustomKeyStoreId": "cks-1234567890abcdef0"}),
        ("DeleteCustomKeyStore", alice.delete_custom_key_store, {"CustomKeyStoreId": "cks-1234567890abcdef0"}),
    ]
    for operation, call, kwargs in calls:
        assert refused(call, **kwargs) == message(ALICE_ARN, operation, "*", "identity"), operation


def test_an_iam_allow_for_create_key_lets_the_user_create_keys_and_nothing_else(server: ServerProcess) -> None:
    pat = kms(server, PAT)
    created = pat.create_key(Description="pat's")["KeyMetadata"]
    assert created["Description"] == "pat's"
    assert created["Arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert refused(pat.list_keys) == message(PAT_ARN, "ListKeys", "*", "identity")
    # the new key has the default policy (the account's root): pat's IAM policy allows nothing on the key
    assert refused(pat.describe_key, KeyId=created["KeyId"]) == message(
        PAT_ARN, "DescribeKey", created["Arn"], "identity")
    # the root sees the key pat created
    listed = {key["KeyId"] for page in kms(server, ADMIN).get_paginator("list_keys").paginate()
              for key in page["Keys"]}
    assert created["KeyId"] in listed


def test_an_explicit_deny_in_the_iam_policy_wins_over_its_allow(server: ServerProcess) -> None:
    quinn = kms(server, QUINN)
    assert refused(quinn.generate_random, NumberOfBytes=8) == message(QUINN_ARN, "GenerateRandom", "*",
                                                                      "identity deny")
    assert refused(quinn.create_key) == message(QUINN_ARN, "CreateKey", "*", "identity deny")
    assert refused(quinn.create_custom_key_store, CustomKeyStoreName="q", CloudHsmClusterId="cluster-234abcdefgh",
                   TrustAnchorCertificate="-----BEGIN CERTIFICATE-----", KeyStorePassword="kmsPswd1"
                   ) == message(QUINN_ARN, "CreateCustomKeyStore", "*", "identity deny")
    # not denied: allowed by the kms:* statement
    assert isinstance(quinn.list_keys()["Keys"], list)
    assert quinn.describe_custom_key_stores()["CustomKeyStores"] == []
    assert quinn.list_retirable_grants(RetiringPrincipal=QUINN_ARN)["Grants"] == []
    assert {alias["AliasName"] for alias in quinn.list_aliases()["Aliases"]} >= {"alias/aws/ebs"}


def test_the_check_comes_before_the_operation_looks_for_its_resources(server: ServerProcess) -> None:
    """An allowed caller gets the operation's own answer; a refused one learns nothing about the store."""
    quinn = kms(server, QUINN)
    assert error_code(quinn.connect_custom_key_store,
                      CustomKeyStoreId="cks-1234567890abcdef0") == "CustomKeyStoreNotFoundException"
    assert refused(kms(server, ALICE).disconnect_custom_key_store, CustomKeyStoreId="cks-1234567890abcdef0"
                   ) == message(ALICE_ARN, "DisconnectCustomKeyStore", "*", "identity")


def test_an_iam_allow_on_keys_only_does_not_cover_resource_less_actions(server: ServerProcess) -> None:
    ruth = kms(server, RUTH)
    assert refused(ruth.create_key) == message(RUTH_ARN, "CreateKey", "*", "identity")
    assert refused(ruth.list_keys) == message(RUTH_ARN, "ListKeys", "*", "identity")
    # her policy still works for what acts on a key
    key = kms(server, ADMIN).create_key()["KeyMetadata"]
    assert ruth.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]


def test_the_account_root_is_always_allowed(server: ServerProcess) -> None:
    admin = kms(server, ADMIN)
    key = admin.create_key()["KeyMetadata"]
    assert len(admin.generate_random(NumberOfBytes=32)["Plaintext"]) == 32
    assert key["KeyId"] in {k["KeyId"] for page in admin.get_paginator("list_keys").paginate() for k in page["Keys"]}
    admin.create_alias(AliasName="alias/root-made", TargetKeyId=key["KeyId"])
    assert "alias/root-made" in {a["AliasName"] for a in admin.list_aliases(KeyId=key["KeyId"])["Aliases"]}
    admin.delete_alias(AliasName="alias/root-made")
    assert admin.describe_custom_key_stores()["CustomKeyStores"] == []
    assert admin.list_retirable_grants(RetiringPrincipal=ROOT)["Grants"] == []


def test_alias_operations_need_iam_on_the_alias_and_the_key_policy_on_each_key(server: ServerProcess) -> None:
    admin = kms(server, ADMIN)
    ivan = kms(server, IVAN)
    both = admin.create_key(Policy=policy(allow(ROOT), allow(IVAN_ARN, ALIAS_ACTIONS)))["KeyMetadata"]
    create_only = admin.create_key(Policy=policy(allow(ROOT), allow(IVAN_ARN, "kms:CreateAlias")))["KeyMetadata"]
    both_too = admin.create_key(Policy=policy(allow(ROOT), allow(IVAN_ARN, ALIAS_ACTIONS)))["KeyMetadata"]
    plain = admin.create_key()["KeyMetadata"]  # default policy: delegated to ivan's IAM policy (aliases only)

    ivan.create_alias(AliasName="alias/ivan-a", TargetKeyId=both["KeyId"])
    # IAM: the alias must match his policy's alias ARNs
    assert refused(ivan.create_alias, AliasName="alias/zed", TargetKeyId=both["KeyId"]) == message(
        IVAN_ARN, "CreateAlias", alias_arn("alias/zed"), "identity")
    # key policy: the default policy delegates to IAM, which allows nothing on the key
    assert refused(ivan.create_alias, AliasName="alias/ivan-p", TargetKeyId=plain["KeyId"]) == message(
        IVAN_ARN, "CreateAlias", plain["Arn"], "identity")
    # UpdateAlias: the new target's key policy ...
    assert refused(ivan.update_alias, AliasName="alias/ivan-a", TargetKeyId=create_only["KeyId"]) == message(
        IVAN_ARN, "UpdateAlias", create_only["Arn"], "identity")
    # ... and the current target's
    ivan.create_alias(AliasName="alias/ivan-b", TargetKeyId=create_only["KeyId"])
    assert refused(ivan.update_alias, AliasName="alias/ivan-b", TargetKeyId=both["KeyId"]) == message(
        IVAN_ARN, "UpdateAlias", create_only["Arn"], "identity")
    # DeleteAlias: the alias's key policy
    assert refused(ivan.delete_alias, AliasName="alias/ivan-b") == message(
        IVAN_ARN, "DeleteAlias", create_only["Arn"], "identity")
    # the user allowed nothing is refused on the alias before anything else
    assert refused(kms(server, ALICE).delete_alias, AliasName="alias/ivan-a") == message(
        ALICE_ARN, "DeleteAlias", alias_arn("alias/ivan-a"), "identity")
    # where both allow it, it works
    admin.create_alias(AliasName="alias/ivan-c", TargetKeyId=both["KeyId"])
    ivan.update_alias(AliasName="alias/ivan-c", TargetKeyId=both_too["KeyId"])
    ivan.delete_alias(AliasName="alias/ivan-a")
    names = {a["AliasName"]: a.get("TargetKeyId") for page in admin.get_paginator("list_aliases").paginate()
             for a in page["Aliases"]}
    assert "alias/ivan-a" not in names
    assert names["alias/ivan-b"] == create_only["KeyId"]
    assert names["alias/ivan-c"] == both_too["KeyId"]
    assert "alias/zed" not in names and "alias/ivan-p" not in names
    admin.delete_alias(AliasName="alias/ivan-b")  # the root is not governed by IAM
