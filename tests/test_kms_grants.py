"""Grants: CreateGrant (operations by key type, constraints, Name retries, DryRun), ListGrants and
ListRetirableGrants (entries, filters, pagination), RetireGrant and RevokeGrant, grant tokens in other operations,
and grants going with their key (spec/kms-real-responses.md 3.10; AWS developer guide "Grants in KMS")."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

USER = f"arn:aws:iam::{ACCOUNT}:user/exampleUser"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/adminRole"
ISSUER = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ACCOUNT = "444455556666"


def new_key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    return kms.create_key(**kwargs)["KeyMetadata"]


def grants_of(kms: Any, key_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    return kms.list_grants(KeyId=key_id, **kwargs)["Grants"]


def test_create_grant_and_list_it(kms: Any) -> None:
    key = new_key(kms)
    created = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Decrypt", "GenerateDataKey"],
        RetiringPrincipal=ROLE, Constraints={"EncryptionContextSubset": {"Department": "IT"}}, Name="it-decrypt")
    assert re.fullmatch(r"[0-9a-f]{64}", created["GrantId"])
    assert created["GrantToken"]
    listed = kms.list_grants(KeyId=key["Arn"])
    assert listed["Truncated"] is False and "NextMarker" not in listed
    (entry,) = listed["Grants"]
    assert isinstance(entry.pop("CreationDate"), datetime)
    assert entry == {
        "KeyId": key["Arn"], "GrantId": created["GrantId"], "Name": "it-decrypt", "GranteePrincipal": USER,
        "RetiringPrincipal": ROLE, "IssuingAccount": ISSUER, "Operations": ["Decrypt", "GenerateDataKey"],
        "Constraints": {"EncryptionContextSubset": {"Department": "IT"}},
    }
    plain = kms.create_grant(KeyId=key["Arn"], GranteePrincipal=ROLE, Operations=["Encrypt"])
    second = grants_of(kms, key["KeyId"])[1]
    assert second["GrantId"] == plain["GrantId"]
    assert {"Name", "RetiringPrincipal", "Constraints", "GranteeServicePrincipal"}.isdisjoint(second)


def test_create_grant_errors(kms: Any) -> None:
    assert error_of(kms.create_grant, KeyId="invalid", GranteePrincipal=USER, Operations=["Encrypt"]) == (
        "NotFoundException", "Invalid keyId 'invalid'", 400)
    assert error_of(kms.list_grants, KeyId="invalid")[:2] == ("NotFoundException", "Invalid keyId 'invalid'")
    key = new_key(kms)
    assert error_of(kms.create_grant, KeyId="alias/grants", GranteePrincipal=USER, Operations=["Encrypt"])[:2] == (
        "NotFoundException", "Invalid keyId 'alias/grants'")
    code, message, _ = error_of(kms.create_grant, KeyId=key["KeyId"], Operations=["Encrypt"])
    assert code == "ValidationException" and "GranteePrincipal" in message
    code, _, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER,
                          GranteeServicePrincipal="dynamodb.us-east-1.amazonaws.com", Operations=["Encrypt"])
    assert code == "ValidationException"
    code, _, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"],
                          RetiringPrincipal=ROLE, RetiringServicePrincipal="dynamodb.us-east-1.amazonaws.com")
    assert code == "ValidationException"
    code, message, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=[])
    assert code == "ValidationException" and "'operations'" in message
    code, message, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Sign"])
    assert code == "ValidationException" and "Sign" in message and key["Arn"] in message
    kms.disable_key(KeyId=key["KeyId"])
    assert error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"]) == (
        "DisabledException", f"{key['Arn']} is disabled.", 400)
    assert grants_of(kms, key["KeyId"]) == []


@pytest.mark.parametrize(
    ("create", "allowed", "refused"),
    [
        ({}, ["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
              "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"], ["Sign", "GetPublicKey", "GenerateMac"]),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
         ["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"], ["GenerateDataKey", "Sign"]),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, ["Sign", "Verify", "GetPublicKey"],
         ["Encrypt", "DeriveSharedSecret"]),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, ["GenerateMac", "VerifyMac"],
         ["GetPublicKey", "Encrypt"]),
        ({"KeySpec": "ECC_NIST_P384", "KeyUsage": "KEY_AGREEMENT"}, ["DeriveSharedSecret", "GetPublicKey"],
         ["Sign", "Decrypt"]),
        ({"KeySpec": "ML_KEM_768", "KeyUsage": "ENCAPSULATE_DECAPSULATE"}, ["Encapsulate", "Decapsulate", "GetPublicKey"],
         ["Decrypt", "DeriveSharedSecret"]),
    ],
)
def test_grant_operations_must_fit_the_key(kms: Any, create: dict[str, str], allowed: list[str],
                                           refused: list[str]) -> None:
    """https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-grant-operations"""
    key = new_key(kms, **create)
    operations = [*allowed, "CreateGrant", "DescribeKey", "RetireGrant"]
    grant_id = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, Operations=operations)["GrantId"]
    assert [g["Operations"] for g in grants_of(kms, key["KeyId"], GrantId=grant_id)] == [operations]
    for operation in refused:
        code, message, status = error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER,
                                         Operations=["DescribeKey", operation])
        assert (code, status) == ("ValidationException", 400) and operation in message


def test_encryption_context_constraints_need_a_symmetric_key(kms: Any) -> None:
    signing = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    code, message, _ = error_of(kms.create_grant, KeyId=signing["KeyId"], GranteePrincipal=USER, Operations=["Sign"],
                                Constraints={"EncryptionContextEquals": {"a": "b"}})
    assert code == "ValidationException" and "EncryptionContextEquals" in message
    key = new_key(kms)
    nine = {f"k{i}": "v" for i in range(9)}
    code, _, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Decrypt"],
                          Constraints={"EncryptionContextSubset": nine})
    assert code == "ValidationException"
    both = {"EncryptionContextEquals": {"a": "b"}, "EncryptionContextSubset": {"c": "d"}}
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Decrypt", "DescribeKey"], Constraints=both)
    assert grants_of(kms, key["KeyId"])[0]["Constraints"] == both


def test_service_principal_grant(kms: Any) -> None:
    key = new_key(kms)
    service = "dynamodb.us-east-1.amazonaws.com"
    source = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Services"
    code, message, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteeServicePrincipal=service,
                                RetiringServicePrincipal=service, Operations=["Decrypt"])
    assert code == "ValidationException" and "SourceArn" in message
    code, _, _ = error_of(kms.create_grant, KeyId=key["KeyId"], GranteeServicePrincipal=service,
                          Operations=["Decrypt"], Constraints={"SourceArn": source})
    assert code == "ValidationException"
    grant_id = kms.create_grant(KeyId=key["KeyId"], GranteeServicePrincipal=service, RetiringServicePrincipal=service,
                                Operations=["Decrypt"], Constraints={"SourceArn": source})["GrantId"]
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"])
    (entry,) = grants_of(kms, key["KeyId"], GranteeServicePrincipal=service)
    assert entry["GrantId"] == grant_id and entry["GranteeServicePrincipal"] == service
    assert entry["RetiringServicePrincipal"] == service and entry["Constraints"] == {"SourceArn": source}
    assert "GranteePrincipal" not in entry and "RetiringPrincipal" not in entry
    retirable = kms.list_retirable_grants(RetiringServicePrincipal=service)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant_id]


def test_name_makes_create_grant_idempotent(kms: Any) -> None:
    """A retry with the same Name and properties returns the original GrantId and a new, equally valid token."""
    key = new_key(kms)
    request = {"KeyId": key["KeyId"], "GranteePrincipal": USER, "Operations": ["Encrypt", "Decrypt"], "Name": "retry"}
    first = kms.create_grant(**request)
    again = kms.create_grant(**{**request, "KeyId": key["Arn"], "Operations": ["Decrypt", "Encrypt"]})
    assert again["GrantId"] == first["GrantId"] and again["GrantToken"] != first["GrantToken"]
    assert len(grants_of(kms, key["KeyId"])) == 1
    changed = kms.create_grant(**{**request, "Operations": ["Encrypt"]})
    assert changed["GrantId"] != first["GrantId"] and len(grants_of(kms, key["KeyId"])) == 2
    other = new_key(kms)
    elsewhere = kms.create_grant(**{**request, "KeyId": other["KeyId"]})
    assert elsewhere["GrantId"] != first["GrantId"]
    assert [g["Name"] for g in grants_of(kms, other["KeyId"])] == ["retry"]
    kms.retire_grant(GrantToken=again["GrantToken"])
    assert [g["GrantId"] for g in grants_of(kms, key["KeyId"])] == [changed["GrantId"]]


def test_retire_and_revoke(kms: Any) -> None:
    key = new_key(kms)
    by_token, by_id, revoked = (kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"])
                                for _ in range(3))
    kms.retire_grant(GrantToken=by_token["GrantToken"])
    kms.retire_grant(KeyId=key["Arn"], GrantId=by_id["GrantId"])
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=revoked["GrantId"])
    assert grants_of(kms, key["KeyId"]) == []
    assert error_of(kms.revoke_grant, KeyId=key["KeyId"], GrantId=revoked["GrantId"]) == (
        "NotFoundException", f"Grant ID {revoked['GrantId']} not found", 400)
    assert error_of(kms.retire_grant, GrantToken=by_token["GrantToken"])[0] == "NotFoundException"
    assert error_of(kms.retire_grant, GrantToken="not-a-grant-token")[0] == "InvalidGrantTokenException"
    assert error_of(kms.retire_grant, GrantId=by_id["GrantId"])[0] == "ValidationException"
    assert error_of(kms.revoke_grant, KeyId=key["KeyId"], GrantId="abc")[0] == "InvalidGrantIdException"
    other = new_key(kms)
    grant = kms.create_grant(KeyId=other["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"])
    assert error_of(kms.revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"])[0] == "NotFoundException"
    assert error_of(kms.retire_grant, KeyId=key["Arn"], GrantId=grant["GrantId"])[0] == "NotFoundException"
    assert error_of(kms.retire_grant, GrantToken=grant["GrantToken"], GrantId="0" * 64)[0] == "InvalidGrantIdException"
    assert len(grants_of(kms, other["KeyId"])) == 1


def test_dry_run_changes_nothing(kms: Any) -> None:
    key = new_key(kms)
    dry = ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 400)
    assert error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"],
                    DryRun=True) == dry
    assert grants_of(kms, key["KeyId"]) == []
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"])
    assert error_of(kms.revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"], DryRun=True) == dry
    assert error_of(kms.retire_grant, GrantToken=grant["GrantToken"], DryRun=True) == dry
    assert [g["GrantId"] for g in grants_of(kms, key["KeyId"])] == [grant["GrantId"]]
    assert error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Sign"],
                    DryRun=True)[0] == "ValidationException"


def test_grant_tokens_are_checked_by_other_operations(kms: Any) -> None:
    key = new_key(kms)
    token = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"])["GrantToken"]
    sealed = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", GrantTokens=[token])
    assert sealed["KeyId"] == key["Arn"]
    assert kms.describe_key(KeyId=key["KeyId"], GrantTokens=[token])["KeyMetadata"]["KeyId"] == key["KeyId"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for call, kwargs in ((kms.encrypt, {"Plaintext": b"secret"}), (kms.describe_key, {})):
        assert error_of(call, KeyId=key["KeyId"], GrantTokens=[token, forged], **kwargs)[0] == (
            "InvalidGrantTokenException")
    assert error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"],
                    GrantTokens=["garbage"])[0] == "InvalidGrantTokenException"


def test_list_grants_filters_and_pages(kms: Any) -> None:
    key = new_key(kms)
    grantees = [f"arn:aws:iam::{ACCOUNT}:user/u{i}" for i in range(5)]
    ids = [kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=g, Operations=["Encrypt"])["GrantId"]
           for g in grantees]
    seen: list[str] = []
    page = kms.list_grants(KeyId=key["KeyId"], Limit=2)
    while True:
        assert len(page["Grants"]) <= 2
        seen += [g["GrantId"] for g in page["Grants"]]
        if not page["Truncated"]:
            break
        page = kms.list_grants(KeyId=key["KeyId"], Limit=2, Marker=page["NextMarker"])
    assert seen == ids
    assert [g["GrantId"] for g in grants_of(kms, key["KeyId"], GranteePrincipal=grantees[3])] == [ids[3]]
    assert [g["GrantId"] for g in grants_of(kms, key["KeyId"], GrantId=ids[1])] == [ids[1]]
    assert grants_of(kms, key["KeyId"], GrantId="f" * 64) == []
    assert error_of(kms.list_grants, KeyId=key["KeyId"], GrantId="nope")[0] == "InvalidGrantIdException"
    assert error_of(kms.list_grants, KeyId=key["KeyId"], Marker="garbage!")[0] == "InvalidMarkerException"
    paginated = kms.get_paginator("list_grants").paginate(KeyId=key["KeyId"], PaginationConfig={"PageSize": 3})
    assert [g["GrantId"] for p in paginated for g in p["Grants"]] == ids


def test_list_retirable_grants(sim: Any, kms: Any) -> None:
    """Grants of the caller's region whose retiring principal matches, on keys of any account."""
    keys = [new_key(kms) for _ in range(2)]
    mine = [kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=USER, RetiringPrincipal=ROLE,
                             Operations=["Decrypt"])["GrantId"] for k in keys]
    kms.create_grant(KeyId=keys[0]["KeyId"], GranteePrincipal=USER, RetiringPrincipal=USER, Operations=["Decrypt"])
    europe = sim.client("kms", region="eu-west-1")
    far_key = europe.create_key()["KeyMetadata"]
    far = europe.create_grant(KeyId=far_key["KeyId"], GranteePrincipal=USER, RetiringPrincipal=ROLE,
                              Operations=["Encrypt"])["GrantId"]
    other = sim.client("kms", account=OTHER_ACCOUNT)
    foreign_key = other.create_key()["KeyMetadata"]
    foreign = other.create_grant(KeyId=foreign_key["KeyId"], GranteePrincipal=ROLE, RetiringPrincipal=ROLE,
                                 Operations=["Encrypt"])
    listed = kms.list_retirable_grants(RetiringPrincipal=ROLE)
    assert [g["GrantId"] for g in listed["Grants"]] == [*mine, foreign["GrantId"]] and listed["Truncated"] is False
    assert listed["Grants"][2]["IssuingAccount"] == f"arn:aws:iam::{OTHER_ACCOUNT}:root"
    assert listed["Grants"][2]["KeyId"] == foreign_key["Arn"]
    assert [g["GrantId"] for g in europe.list_retirable_grants(RetiringPrincipal=ROLE)["Grants"]] == [far]
    first = kms.list_retirable_grants(RetiringPrincipal=ROLE, Limit=1)
    assert [g["GrantId"] for g in first["Grants"]] == mine[:1] and first["Truncated"] is True
    rest = kms.list_retirable_grants(RetiringPrincipal=ROLE, Marker=first["NextMarker"])
    assert [g["GrantId"] for g in rest["Grants"]] == [mine[1], foreign["GrantId"]]
    assert error_of(europe.retire_grant, GrantToken=foreign["GrantToken"])[0] == "NotFoundException"
    kms.retire_grant(GrantToken=foreign["GrantToken"])
    assert [g["GrantId"] for g in kms.list_retirable_grants(RetiringPrincipal=ROLE)["Grants"]] == mine
    assert error_of(kms.list_retirable_grants)[0] == "ValidationException"


def test_cross_account_grant_by_key_arn(sim: Any, kms: Any) -> None:
    """Another account may manage grants of a key whose key policy lets it (key ARN only)."""
    principals = [f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{OTHER_ACCOUNT}:root"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "kms:*", "Resource": "*"}]}
    key = new_key(kms, Policy=json.dumps(policy))
    other = sim.client("kms", account=OTHER_ACCOUNT)
    grant = other.create_grant(KeyId=key["Arn"], GranteePrincipal=USER, Operations=["Decrypt"])
    (entry,) = grants_of(other, key["Arn"])
    assert entry["IssuingAccount"] == f"arn:aws:iam::{OTHER_ACCOUNT}:root" and entry["KeyId"] == key["Arn"]
    assert error_of(other.list_grants, KeyId=key["KeyId"])[0] == "NotFoundException"
    other.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    assert grants_of(kms, key["KeyId"]) == []


def test_grants_survive_pending_deletion_and_go_with_the_key(sim: Any, kms: Any) -> None:
    key = new_key(kms)
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=USER, RetiringPrincipal=ROLE,
                             Operations=["Encrypt"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert [g["GrantId"] for g in grants_of(kms, key["KeyId"])] == [grant["GrantId"]]
    assert error_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=USER, Operations=["Encrypt"]) == (
        "KMSInvalidStateException", f"{key['Arn']} is pending deletion.", 400)
    sim.advance(7 * 86400 - 60)
    assert len(grants_of(kms, key["KeyId"])) == 1
    sim.advance(120)
    assert error_of(kms.list_grants, KeyId=key["KeyId"])[0] == "NotFoundException"
    assert kms.list_retirable_grants(RetiringPrincipal=ROLE)["Grants"] == []
    assert error_of(kms.retire_grant, GrantToken=grant["GrantToken"])[0] == "NotFoundException"


def test_a_grant_lets_another_account_use_the_key_within_its_constraints(sim: Any, kms: Any) -> None:
    """Grants are an authorization: the key policy does not name the other account, the grant does."""
    key = new_key(kms)
    other = sim.client("kms", account=OTHER_ACCOUNT)
    mine = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"for them", EncryptionContext={"team": "blue", "x": "1"})
    code, message, _ = error_of(other.decrypt, CiphertextBlob=mine["CiphertextBlob"],
                                EncryptionContext={"team": "blue", "x": "1"})
    assert code == "AccessDeniedException" and "kms:Decrypt" in message
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{OTHER_ACCOUNT}:role/app",
                             Operations=["Decrypt", "Encrypt"],
                             Constraints={"EncryptionContextSubset": {"team": "blue"}})
    opened = other.decrypt(CiphertextBlob=mine["CiphertextBlob"], EncryptionContext={"team": "blue", "x": "1"})
    assert opened["Plaintext"] == b"for them" and opened["KeyId"] == key["Arn"]
    theirs = other.encrypt(KeyId=key["Arn"], Plaintext=b"back", EncryptionContext={"team": "blue"})
    assert kms.decrypt(CiphertextBlob=theirs["CiphertextBlob"], EncryptionContext={"team": "blue"})[
        "Plaintext"] == b"back"
    # Outside the constraint, or an operation the grant does not list: still denied.
    assert error_of(other.encrypt, KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"team": "red"})[0] == (
        "AccessDeniedException")
    assert error_of(other.generate_data_key, KeyId=key["Arn"], KeySpec="AES_256",
                    EncryptionContext={"team": "blue"})[0] == "AccessDeniedException"
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert error_of(other.encrypt, KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"team": "blue"})[0] == (
        "AccessDeniedException")


def test_context_equals_needs_exactly_that_context(sim: Any, kms: Any) -> None:
    key = new_key(kms)
    other = sim.client("kms", account=OTHER_ACCOUNT)
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=OTHER_ACCOUNT, Operations=["GenerateDataKey"],
                     Constraints={"EncryptionContextEquals": {"app": "billing"}})
    made = other.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext={"app": "billing"})
    assert len(made["Plaintext"]) == 32
    for context in ({}, {"app": "billing", "extra": "1"}, {"app": "Billing"}):
        assert error_of(other.generate_data_key, KeyId=key["Arn"], KeySpec="AES_256",
                        EncryptionContext=context)[0] == "AccessDeniedException"


def test_a_grant_keeps_the_owner_working_when_the_policy_does_not(kms: Any) -> None:
    """With a key policy that no longer allows Encrypt to the account (set past the lockout check), a grant
    to a principal of the account still does."""
    key = new_key(kms)
    only_admin = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ISSUER}, "Resource": "*",
        "Action": ["kms:PutKeyPolicy", "kms:CreateGrant", "kms:DescribeKey"]}]})
    kms.put_key_policy(KeyId=key["KeyId"], Policy=only_admin)
    assert error_of(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")[0] == "AccessDeniedException"
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Encrypt"])
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]
