"""Key rotation through boto3: automatic rotation on the simulated clock, on-demand rotation and its limit,
ListKeyRotations, and AWS's recorded shapes and messages (spec/kms-real-responses.md 1.14, 1.17, 2.2, 3.2, 3.7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

DAY = 86400
ON_DEMAND_LIMIT = 25
LIMIT_MESSAGE = ("The on-demand rotations limit has been reached for the given keyId. "
                 "No more on-demand rotations can be performed for this key: {arn}")


def assert_unsupported_without_message(call: Any, **kwargs: Any) -> None:
    """Non-symmetric keys: UnsupportedOperationException whose body has no message (spec 1.14)."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    err = caught.value.response
    assert err["Error"]["Code"] == "UnsupportedOperationException"
    assert err["Error"]["Message"] == "" and "message" not in err


def current_material(kms: Any, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]


def test_rotation_status_shapes(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    arn = meta["Arn"]
    status = kms.get_key_rotation_status(KeyId=meta["KeyId"])
    status.pop("ResponseMetadata")
    assert status == {"KeyId": arn, "KeyRotationEnabled": False}

    kms.enable_key_rotation(KeyId=meta["KeyId"])
    status = kms.get_key_rotation_status(KeyId=arn)
    assert status["KeyId"] == arn and status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    assert timedelta(days=365) <= status["NextRotationDate"] - meta["CreationDate"] <= timedelta(days=365, minutes=5)

    kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=arn)
    assert status["RotationPeriodInDays"] == 90
    assert timedelta(days=90) <= status["NextRotationDate"] - meta["CreationDate"] <= timedelta(days=90, minutes=5)

    kms.disable_key_rotation(KeyId=arn)
    status = kms.get_key_rotation_status(KeyId=arn)
    assert status["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status


def test_automatic_rotation_on_the_clock(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = current_material(kms, key_id)
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"before rotation")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []

    sim.advance(90 * DAY - 60)
    assert current_material(kms, key_id) == first
    sim.advance(120)
    second = current_material(kms, key_id)
    assert second != first
    rotations = kms.list_key_rotations(KeyId=key_id)
    assert rotations["Truncated"] is False and "NextMarker" not in rotations  # recorded: always Truncated
    assert rotations["Rotations"] == [{"KeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}", "KeyMaterialId": second,
                                       "KeyMaterialState": "CURRENT", "RotationDate": due, "RotationType": "AUTOMATIC"}]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["NextRotationDate"] == due + timedelta(days=90) and status["RotationPeriodInDays"] == 90

    # A jump over three periods rotates once per period, each at its own date.
    sim.advance(3 * 90 * DAY)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationDate"] for r in rotations] == [due + timedelta(days=90 * n) for n in range(4)]
    assert {r["RotationType"] for r in rotations} == {"AUTOMATIC"}
    assert [r["KeyMaterialState"] for r in rotations] == ["NON_CURRENT"] * 3 + ["CURRENT"]
    assert rotations[-1]["KeyMaterialId"] == current_material(kms, key_id)
    assert len({r["KeyMaterialId"] for r in rotations} | {first}) == 5

    everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert everything[0] == {"KeyId": rotations[0]["KeyId"], "KeyMaterialId": first, "KeyMaterialState": "NON_CURRENT"}
    assert everything[1:] == rotations
    assert kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ROTATIONS_ONLY")["Rotations"] == rotations

    # Old ciphertext still decrypts; new ciphertext uses the new material.
    decrypted = kms.decrypt(CiphertextBlob=old_blob)
    assert decrypted["Plaintext"] == b"before rotation" and decrypted["KeyMaterialId"] == first
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == rotations[-1]["KeyMaterialId"]


def test_disabled_key_skips_rotation_and_catches_up_when_enabled(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = current_material(kms, key_id)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
    kms.disable_key(KeyId=key_id)
    sim.advance(200 * DAY)
    assert current_material(kms, key_id) == first
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["NextRotationDate"] == due + timedelta(days=180)

    kms.enable_key(KeyId=key_id)  # not rotated for more than a period: rotates at once
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1 and rotations[0]["RotationType"] == "AUTOMATIC"
    assert due + timedelta(days=109) < rotations[0]["RotationDate"] < due + timedelta(days=111)
    assert current_material(kms, key_id) == rotations[0]["KeyMaterialId"] != first
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["NextRotationDate"] == rotations[0]["RotationDate"] + timedelta(days=90)


def test_pending_deletion_reports_rotation_off_until_cancelled(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    code, message, _ = error_of(kms.enable_key_rotation, KeyId=key_id)
    assert code == "KMSInvalidStateException" and message.endswith("is pending deletion.")
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    code, message, _ = error_of(kms.enable_key_rotation, KeyId=key_id)
    assert code == "DisabledException" and message == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id} is disabled."


def test_on_demand_rotation_and_its_limit(sim: Any, kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    first = meta["CurrentKeyMaterialId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    before = kms.get_key_rotation_status(KeyId=key_id)

    response = kms.rotate_key_on_demand(KeyId=key_id)
    assert response["KeyId"] == arn
    after = kms.get_key_rotation_status(KeyId=key_id)
    assert after["NextRotationDate"] == before["NextRotationDate"] and after["RotationPeriodInDays"] == 180
    assert "OnDemandRotationStartDate" not in after
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND"
    assert rotations[0]["KeyMaterialState"] == "CURRENT" and rotations[0]["KeyMaterialId"] == current_material(kms, key_id)
    assert rotations[0]["KeyMaterialId"] != first

    for _ in range(ON_DEMAND_LIMIT - 1):
        kms.rotate_key_on_demand(KeyId=key_id)
    assert error_of(kms.rotate_key_on_demand, KeyId=key_id) == (
        "LimitExceededException", LIMIT_MESSAGE.format(arn=arn), 400)
    assert len(kms.list_key_rotations(KeyId=key_id, Limit=1000)["Rotations"]) == ON_DEMAND_LIMIT

    # Automatic rotation does not count against the on-demand limit.
    sim.advance(180 * DAY + 60)
    rotations = kms.list_key_rotations(KeyId=key_id, Limit=1000)["Rotations"]
    assert len(rotations) == ON_DEMAND_LIMIT + 1 and rotations[-1]["RotationType"] == "AUTOMATIC"


def test_on_demand_rotation_conflicts_with_an_imminent_automatic_one(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    sim.advance(90 * DAY - 600)
    code, _, status = error_of(kms.rotate_key_on_demand, KeyId=key_id)
    assert (code, status) == ("ConflictException", 400)
    sim.advance(1200)
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"].endswith(key_id)
    types = [r["RotationType"] for r in kms.list_key_rotations(KeyId=key_id)["Rotations"]]
    assert types == ["AUTOMATIC", "ON_DEMAND"]


def test_list_key_rotations_pages(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(3):
        kms.rotate_key_on_demand(KeyId=key_id)
    everything = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    first_page = kms.list_key_rotations(KeyId=key_id, Limit=2)
    assert first_page["Truncated"] is True and first_page["Rotations"] == everything[:2]
    last_page = kms.list_key_rotations(KeyId=key_id, Limit=2, Marker=first_page["NextMarker"])
    assert last_page["Rotations"] == everything[2:] and last_page["Truncated"] is False
    assert "NextMarker" not in last_page
    assert error_of(kms.list_key_rotations, KeyId=key_id, Marker="bm90LWEtbWFya2Vy")[0] == "InvalidMarkerException"


@pytest.mark.parametrize(("spec", "usage"), [("RSA_2048", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "SIGN_VERIFY"),
                                             ("HMAC_256", "GENERATE_VERIFY_MAC")])
def test_only_symmetric_keys_rotate(kms: Any, spec: str, usage: str) -> None:
    key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    assert_unsupported_without_message(kms.rotate_key_on_demand, KeyId=key_id)
    assert_unsupported_without_message(kms.enable_key_rotation, KeyId=key_id)
    assert_unsupported_without_message(kms.disable_key_rotation, KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    for include in ("ALL_KEY_MATERIAL", "ROTATIONS_ONLY"):
        assert error_of(kms.list_key_rotations, KeyId=key_id, IncludeKeyMaterial=include) == (
            "ValidationException", "Input parameter includeKeyMaterial can only be used with symmetric keys.", 400)


def test_rotation_errors(sim: Any, kms: Any) -> None:
    rsa = kms.create_key(KeySpec="RSA_4096", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    kms.disable_key(KeyId=rsa["KeyId"])
    # The key state is checked before the key type (spec 3.2).
    assert error_of(kms.rotate_key_on_demand, KeyId=rsa["KeyId"]) == (
        "DisabledException", f"{rsa['Arn']} is disabled.", 400)
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    assert error_of(kms.rotate_key_on_demand, KeyId=missing) == (
        "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist", 400)

    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert error_of(kms.rotate_key_on_demand, KeyId=external["KeyId"]) == (
        "KMSInvalidStateException", f"{external['Arn']} is pending import.", 400)
    assert error_of(kms.enable_key_rotation, KeyId=external["KeyId"]) == (
        "UnsupportedOperationException", f"{external['Arn']} origin is EXTERNAL which is not valid for this operation.",
        400)

    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for days, bound in ((89, "greater than or equal to 90"), (2561, "less than or equal to 2560")):
        assert error_of(sim.client("kms", validate=False).enable_key_rotation, KeyId=key_id, RotationPeriodInDays=days) == (
            "ValidationException", f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to "
            f"satisfy constraint: Member must have value {bound}", 400)
    assert error_of(kms.list_key_rotations, KeyId=key_id, IncludeKeyMaterial="INVALID_VALUE") == (
        "ValidationException", "1 validation error detected: Value 'INVALID_VALUE' at 'includeKeyMaterial' failed to "
        "satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]", 400)
    code, _, _ = error_of(kms.enable_key_rotation, KeyId=f"alias/nothing-{key_id}")
    assert code == "NotFoundException"


def test_multi_region_key_rotates_on_its_primary(sim: Any, kms: Any) -> None:
    meta = kms.create_key(MultiRegion=True)["KeyMetadata"]
    key_id = meta["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    replica_client = sim.client("kms", region="eu-west-1")
    sim.advance(600)
    assert replica_client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    code, _, _ = error_of(replica_client.enable_key_rotation, KeyId=key_id)
    assert code == "UnsupportedOperationException"

    blob = replica_client.encrypt(KeyId=key_id, Plaintext=b"replica secret")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    primary_status = kms.get_key_rotation_status(KeyId=key_id)
    replica_status = replica_client.get_key_rotation_status(KeyId=key_id)
    assert replica_status["KeyRotationEnabled"] is True
    assert replica_status["NextRotationDate"] == primary_status["NextRotationDate"]
    assert replica_status["KeyId"] == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}"

    sim.advance(90 * DAY + 60)
    new_current = current_material(kms, key_id)
    assert new_current != meta["CurrentKeyMaterialId"]
    assert current_material(replica_client, key_id) == new_current
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"replica secret"
    assert replica_client.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])[
        "Plaintext"] == b"x"
