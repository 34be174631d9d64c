"""Multi-Region keys: ReplicateKey (response shapes, errors), cross-Region use of the shared material,
UpdatePrimaryRegion, the Creating/Updating states on the simulated clock, and the deletion rules of a primary with
replicas (spec/kms-real-responses.md 1.15, 2.1, 3.8; AWS developer guide "Multi-Region keys in AWS KMS")."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

EU = "eu-west-1"
AP = "ap-southeast-1"
DAY = 86400


def arn_in(region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def configuration(client: Any, key_id: str) -> dict[str, Any]:
    return client.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]


def test_replicate_key_response_and_replica(sim: Any, kms: Any) -> None:
    primary = kms.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    key_id = primary["KeyId"]
    europe = sim.client("kms", region=EU)
    assert error_of(europe.describe_key, KeyId=key_id)[:2] == (
        "NotFoundException", f"Key '{arn_in(EU, key_id)}' does not exist")
    result = kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    replica = result["ReplicaKeyMetadata"]
    assert replica["KeyState"] == "Creating" and replica["Enabled"] is False
    assert "CurrentKeyMaterialId" not in replica
    assert replica["KeyId"] == key_id and replica["Arn"] == arn_in(EU, key_id) and replica["Description"] == ""
    assert replica["MultiRegion"] is True and replica["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert replica["KeyUsage"] == "ENCRYPT_DECRYPT" and replica["Origin"] == "AWS_KMS"
    assert replica["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and replica["AWSAccountId"] == ACCOUNT
    expected_configuration = {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": primary["Arn"], "Region": REGION},
        "ReplicaKeys": [{"Arn": arn_in(EU, key_id), "Region": EU}],
    }
    assert replica["MultiRegionConfiguration"] == expected_configuration
    policy = json.loads(result["ReplicaPolicy"])
    assert list(policy) == ["Version", "Id", "Statement"] and policy["Id"] == "key-default-1"
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "ReplicaTags" not in result  # AWS omits it when the key has no tags
    # The instant delay profile: the replica has settled by the next request.
    described = europe.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Enabled" and described["Enabled"] is True
    assert described["CurrentKeyMaterialId"] == primary["CurrentKeyMaterialId"]
    assert described["MultiRegionConfiguration"] == expected_configuration
    assert configuration(kms, key_id) == {**expected_configuration, "MultiRegionKeyType": "PRIMARY"}
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "primary"
    assert [k["KeyArn"] for k in europe.list_keys()["Keys"]] == [arn_in(EU, key_id)]


def test_replicate_key_with_policy_description_and_tags(sim: Any, kms: Any) -> None:
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}]})
    tags = [{"TagKey": "team", "TagValue": "crypto"}, {"TagKey": "env", "TagValue": ""}]
    result = kms.replicate_key(KeyId=key_id, ReplicaRegion=AP, Policy=policy, Description="replica", Tags=tags)
    locked_out = policy.replace('"kms:*"', '"kms:Decrypt"')
    bypassed = kms.replicate_key(KeyId=key_id, ReplicaRegion=EU, Policy=locked_out,
                                 BypassPolicyLockoutSafetyCheck=True)
    assert bypassed["ReplicaPolicy"] == locked_out
    assert result["ReplicaPolicy"] == policy and result["ReplicaTags"] == tags
    assert result["ReplicaKeyMetadata"]["Description"] == "replica"
    asia = sim.client("kms", region=AP)
    assert asia.list_resource_tags(KeyId=key_id)["Tags"] == tags
    assert json.loads(asia.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == json.loads(policy)
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []


def test_replicate_key_errors(sim: Any, kms: Any) -> None:
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    key_id = primary["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    europe = sim.client("kms", region=EU)
    assert error_of(europe.replicate_key, KeyId=key_id, ReplicaRegion=EU) == (
        "UnsupportedOperationException", f"{arn_in(EU, key_id)} is not a multi-region primary key.", 400)
    assert error_of(europe.replicate_key, KeyId=key_id, ReplicaRegion=AP)[0] == "UnsupportedOperationException"
    single = kms.create_key()["KeyMetadata"]
    assert error_of(kms.replicate_key, KeyId=single["KeyId"], ReplicaRegion=EU)[:2] == (
        "UnsupportedOperationException", f"{single['Arn']} is not a multi-region primary key.")
    code, message, status = error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=EU)
    assert (code, status) == ("AlreadyExistsException", 400) and arn_in(EU, key_id) in message
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=REGION)[0] == "ValidationException"
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion="xx-nowhere-1")[0] == "ValidationException"
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion="cn-north-1")[0] == "ValidationException"
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=AP,
                    Tags=[{"TagKey": "aws:x", "TagValue": "y"}]) == (
        "TagException", "Tags beginning with aws: are reserved", 400)
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=AP, Policy="{not json")[0] == (
        "MalformedPolicyDocumentException")
    assert error_of(kms.replicate_key, KeyId=arn_in(EU, key_id), ReplicaRegion=AP)[:2] == (
        "NotFoundException", f"Invalid arn {EU}")
    locked_out = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:Decrypt",
        "Resource": "*"}]})
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=AP, Policy=locked_out)[:2] == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.")
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=AP, Policy=" " * 40000)[0] == (
        "LimitExceededException")
    kms.disable_key(KeyId=key_id)
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=AP) == (
        "DisabledException", f"{primary['Arn']} is disabled.", 400)
    external = kms.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]
    assert error_of(kms.replicate_key, KeyId=external["KeyId"], ReplicaRegion=AP) == (
        "KMSInvalidStateException", f"{external['Arn']} is pending import.", 400)
    assert error_of(sim.client("kms", region=AP).describe_key, KeyId=key_id)[0] == "NotFoundException"


def test_ciphertexts_cross_regions(sim: Any, kms: Any) -> None:
    """Same key id and material: a ciphertext of one Region decrypts in the other, both ways."""
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    europe = sim.client("kms", region=EU)
    context = {"purpose": "cross-region"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"from us-east-1", EncryptionContext=context)["CiphertextBlob"]
    opened = europe.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert opened["Plaintext"] == b"from us-east-1" and opened["KeyId"] == arn_in(EU, key_id)
    back = europe.encrypt(KeyId=key_id, Plaintext=b"from eu-west-1")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back, KeyId=key_id)["Plaintext"] == b"from eu-west-1"
    assert error_of(europe.decrypt, CiphertextBlob=blob)[0] == "InvalidCiphertextException"
    single = kms.create_key()["KeyMetadata"]["KeyId"]
    local = kms.encrypt(KeyId=single, Plaintext=b"stays home")["CiphertextBlob"]
    assert error_of(europe.decrypt, CiphertextBlob=local)[0] == "NotFoundException"


def test_asymmetric_replica_shares_the_key_pair(sim: Any, kms: Any) -> None:
    key_id = kms.create_key(MultiRegion=True, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=AP)
    asia = sim.client("kms", region=AP)
    public_der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert asia.get_public_key(KeyId=key_id)["PublicKey"] == public_der
    signature = asia.sign(KeyId=key_id, Message=b"signed in Asia", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public_key = serialization.load_der_public_key(public_der)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, b"signed in Asia", ec.ECDSA(hashes.SHA256()))
    assert kms.verify(KeyId=key_id, Message=b"signed in Asia", Signature=signature,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True


def test_update_primary_region(sim: Any, kms: Any) -> None:
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    kms.replicate_key(KeyId=key_id, ReplicaRegion=AP)
    europe, asia = sim.client("kms", region=EU), sim.client("kms", region=AP)
    assert error_of(europe.update_primary_region, KeyId=key_id, PrimaryRegion=AP) == (
        "UnsupportedOperationException", f"{arn_in(EU, key_id)} is not a multi-region primary key.", 400)
    assert error_of(kms.update_primary_region, KeyId=key_id, PrimaryRegion="us-west-2") == (
        "NotFoundException", f"Key '{arn_in('us-west-2', key_id)}' does not exist", 400)
    single = kms.create_key()["KeyMetadata"]["KeyId"]
    assert error_of(kms.update_primary_region, KeyId=single, PrimaryRegion=EU)[0] == "UnsupportedOperationException"
    assert kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU)["ResponseMetadata"]["HTTPStatusCode"] == 200
    expected = {
        "PrimaryKey": {"Arn": arn_in(EU, key_id), "Region": EU},
        "ReplicaKeys": [{"Arn": arn_in(REGION, key_id), "Region": REGION}, {"Arn": arn_in(AP, key_id), "Region": AP}],
    }
    assert configuration(europe, key_id) == {"MultiRegionKeyType": "PRIMARY", **expected}
    assert configuration(kms, key_id) == {"MultiRegionKeyType": "REPLICA", **expected}
    assert configuration(asia, key_id) == {"MultiRegionKeyType": "REPLICA", **expected}
    assert {c.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] for c in (kms, europe, asia)} == {"Enabled"}
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion="us-west-2")[:2] == (
        "UnsupportedOperationException", f"{arn_in(REGION, key_id)} is not a multi-region primary key.")
    created = europe.replicate_key(KeyId=key_id, ReplicaRegion="us-west-2")["ReplicaKeyMetadata"]
    assert created["MultiRegionConfiguration"]["PrimaryKey"] == {"Arn": arn_in(EU, key_id), "Region": EU}
    europe.disable_key(KeyId=key_id)
    assert error_of(europe.update_primary_region, KeyId=key_id, PrimaryRegion=REGION) == (
        "DisabledException", f"{arn_in(EU, key_id)} is disabled.", 400)


def test_creating_and_updating_take_time(realistic: Any) -> None:
    """With AWS-like delays a replica is Creating (unusable, manageable) and UpdatePrimaryRegion leaves both keys
    Updating (usable, not manageable) until the delay has passed on the simulated clock."""
    kms, europe = realistic.client("kms"), realistic.client("kms", region=EU)
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert europe.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Creating"
    assert error_of(europe.encrypt, KeyId=key_id, Plaintext=b"too early") == (
        "KMSInvalidStateException", f"{arn_in(EU, key_id)} is creating.", 400)
    europe.update_key_description(KeyId=key_id, Description="still creating")
    realistic.advance(30)
    assert europe.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    blob = europe.encrypt(KeyId=key_id, Plaintext=b"now")["CiphertextBlob"]
    kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU)
    for client in (kms, europe):
        meta = client.describe_key(KeyId=key_id)["KeyMetadata"]
        assert meta["KeyState"] == "Updating" and meta["Enabled"] is False
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"now"
    assert error_of(kms.disable_key, KeyId=key_id)[:2] == (
        "KMSInvalidStateException", f"{arn_in(REGION, key_id)} is updating.")
    realistic.advance(30)
    assert [c.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] for c in (kms, europe)] == ["Enabled", "Enabled"]
    assert configuration(kms, key_id)["MultiRegionKeyType"] == "REPLICA"


def test_primary_waits_for_its_replicas_to_be_deleted(sim: Any, kms: Any) -> None:
    """A primary with replicas is PendingReplicaDeletion (no DeletionDate) until the last replica is deleted on its
    own clock; then its own waiting period starts."""
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    key_id = primary["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    kms.replicate_key(KeyId=key_id, ReplicaRegion=AP)
    europe, asia = sim.client("kms", region=EU), sim.client("kms", region=AP)
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingReplicaDeletion" and scheduled["PendingWindowInDays"] == 7
    assert "DeletionDate" not in scheduled and scheduled["KeyId"] == primary["Arn"]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and meta["PendingDeletionWindowInDays"] == 7
    assert "DeletionDate" not in meta
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", f"{primary['Arn']} is pending replica deletion.", 400)
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion="us-west-2")[:2] == (
        "KMSInvalidStateException", f"{primary['Arn']} is pending replica deletion.")
    europe.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    asia_deletion = asia.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=10)["DeletionDate"]
    sim.advance(7 * DAY + 60)
    assert error_of(europe.describe_key, KeyId=key_id)[0] == "NotFoundException"
    assert configuration(kms, key_id)["ReplicaKeys"] == [{"Arn": arn_in(AP, key_id), "Region": AP}]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    sim.advance(3 * DAY)
    assert error_of(asia.describe_key, KeyId=key_id)[0] == "NotFoundException"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert meta["DeletionDate"] == asia_deletion + timedelta(days=7)
    sim.advance(7 * DAY)
    assert error_of(kms.describe_key, KeyId=key_id)[0] == "NotFoundException"


def test_cancel_deletion_of_a_primary_waiting_for_replicas(sim: Any, kms: Any) -> None:
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    kms.schedule_key_deletion(KeyId=key_id)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    europe = sim.client("kms", region=EU)
    europe.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    sim.advance(8 * DAY)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["MultiRegionConfiguration"]["ReplicaKeys"] == []
    kms.enable_key(KeyId=key_id)
    assert kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)["ReplicaKeyMetadata"]["KeyState"] == "Creating"
