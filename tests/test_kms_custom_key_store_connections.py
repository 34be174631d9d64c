"""Every ConnectionErrorCode of a CloudHSM key store produced on purpose, then repaired the way AWS's
troubleshooting guide says (https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html): disconnect,
fix, UpdateCustomKeyStore if needed, connect. Also the store's own rules: states, names, quotas, clusters.
"""

from __future__ import annotations

from typing import Any

import pytest
from cks_helpers import (
    KMSUSER_PASSWORD,
    as_admin,
    connected_store,
    create_kmsuser,
    login,
    plane,
    set_kmsuser_password,
    store_state,
    two_hsm_cluster,
)
from helpers import describe
from kms_helpers import error_of


def new_store(kms: Any, cluster_id: str, anchor: str, password: str = KMSUSER_PASSWORD, name: str = "s") -> str:
    return kms.create_custom_key_store(CustomKeyStoreName=name, CloudHsmClusterId=cluster_id,
                                       TrustAnchorCertificate=anchor, KeyStorePassword=password)["CustomKeyStoreId"]


def connect(kms: Any, store_id: str) -> dict[str, Any]:
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    return store_state(kms, store_id)


def repair_by_reconnecting(kms: Any, store_id: str, **update: Any) -> None:
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    entry = store_state(kms, store_id)
    assert entry["ConnectionState"] == "DISCONNECTED" and "ConnectionErrorCode" not in entry
    if update:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, **update)
    assert connect(kms, store_id)["ConnectionState"] == "CONNECTED"


@pytest.fixture
def scene(sim: Any, kms: Any, cloudhsm: Any) -> tuple[str, str]:
    cluster_id, anchor = two_hsm_cluster(sim, cloudhsm)
    return cluster_id, anchor


def test_user_not_found_then_created(sim, kms, scene):
    cluster_id, anchor = scene
    store_id = new_store(kms, cluster_id, anchor)
    entry = connect(kms, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == ("FAILED", "USER_NOT_FOUND")
    assert error_of(kms.connect_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    create_kmsuser(sim, cluster_id)
    repair_by_reconnecting(kms, store_id, KeyStorePassword=KMSUSER_PASSWORD)


def test_invalid_credentials_count_toward_the_lockout(sim, kms, scene):
    cluster_id, anchor = scene
    create_kmsuser(sim, cluster_id)
    store_id = new_store(kms, cluster_id, anchor, password="wrongPassword1")
    codes = []
    for attempt in range(6):
        if attempt:
            kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        codes.append(connect(kms, store_id)["ConnectionErrorCode"])
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["USER_LOCKED_OUT"]
    status, envelope = login(sim, cluster_id, "kmsuser", KMSUSER_PASSWORD, "crypto-user")
    assert envelope["__type"] == "UserLocked", envelope
    # Repair (USER_LOCKED_OUT and INVALID_CREDENTIALS): an admin sets a known password, KMS is told it.
    status, body = set_kmsuser_password(sim, cluster_id, "knownPassword2")
    assert status == 200, body
    repair_by_reconnecting(kms, store_id, KeyStorePassword="knownPassword2")
    status, envelope = login(sim, cluster_id, "kmsuser", "knownPassword2", "crypto-user")
    assert envelope["__type"] == "InvalidCredentials"  # rotated again by the connect


def test_user_logged_in_then_logged_out(sim, kms, scene):
    cluster_id, anchor = scene
    create_kmsuser(sim, cluster_id)
    store_id = new_store(kms, cluster_id, anchor)
    status, envelope = login(sim, cluster_id, "kmsuser", KMSUSER_PASSWORD, "crypto-user")
    assert status == 200
    assert connect(kms, store_id)["ConnectionErrorCode"] == "USER_LOGGED_IN"
    plane(sim, cluster_id, "POST", "/logout", {}, envelope["token"])
    repair_by_reconnecting(kms, store_id)


def test_kms_session_counts_as_logged_in(sim, kms, cloudhsm):
    store_id, cluster_id = connected_store(sim)
    status, body = set_kmsuser_password(sim, cluster_id, "anotherPass3")
    assert (status, body["__type"]) == (409, "UserLoggedIn"), body
    status, body = as_admin(sim, cluster_id, "DELETE", "/users/kmsuser?role=crypto-user")
    assert body["__type"] == "UserLoggedIn", body
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    assert set_kmsuser_password(sim, cluster_id, "anotherPass3")[0] == 200  # logged out by the disconnect


def test_cluster_without_active_hsm_then_hsm_added(sim, kms, cloudhsm, scene):
    cluster_id, anchor = scene
    create_kmsuser(sim, cluster_id)
    store_id = new_store(kms, cluster_id, anchor)
    for hsm in describe(cloudhsm, cluster_id)["Hsms"]:
        cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm["HsmId"])
    assert describe(cloudhsm, cluster_id)["Hsms"] == []
    assert connect(kms, store_id)["ConnectionErrorCode"] == "INSUFFICIENT_CLOUDHSM_HSMS"
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    repair_by_reconnecting(kms, store_id)


@pytest.mark.parametrize("code", ["SUBNET_NOT_FOUND", "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET", "NETWORK_ERRORS",
                                  "INTERNAL_ERROR"])
def test_injected_faults(sim, kms, scene, code):
    cluster_id, anchor = scene
    create_kmsuser(sim, cluster_id)
    store_id = new_store(kms, cluster_id, anchor)
    status, body = sim.control("POST", "/_hsmsim/connection-faults", {"cluster_id": cluster_id, "error": code})
    assert status == 200, body
    assert connect(kms, store_id)["ConnectionErrorCode"] == code
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert connect(kms, store_id)["ConnectionErrorCode"] == code  # persists until fixed
    status, body = sim.control("DELETE", f"/_hsmsim/connection-faults?cluster_id={cluster_id}")
    assert (status, body["cleared"]) == (200, 1)
    repair_by_reconnecting(kms, store_id)
    status, body = sim.control("POST", "/_hsmsim/connection-faults", {"cluster_id": cluster_id, "error": "BOGUS"})
    assert status == 400 and body["__type"] == "ValidationException"


def test_cluster_not_found_repaired_with_a_cluster_from_a_backup(sim, kms, cloudhsm):
    store_id, cluster_id = connected_store(sim)
    key = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    backups = cloudhsm.describe_backups(Filters={"clusterIds": [cluster_id]})["Backups"]
    assert backups
    for hsm in describe(cloudhsm, cluster_id)["Hsms"]:
        cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm["HsmId"])
    newest = max(cloudhsm.describe_backups(Filters={"clusterIds": [cluster_id]})["Backups"],
                 key=lambda b: b["CreateTimestamp"])
    cloudhsm.delete_cluster(ClusterId=cluster_id)
    assert connect(kms, store_id)["ConnectionErrorCode"] == "CLUSTER_NOT_FOUND"
    restored = cloudhsm.create_cluster(HsmType="hsm1.medium", SourceBackupId=newest["BackupId"],
                                       SubnetIds=["subnet-0123456789abcdefa", "subnet-0123456789abcdefb"])
    new_id = restored["Cluster"]["ClusterId"]
    for zone in ("us-east-1a", "us-east-1b"):
        cloudhsm.create_hsm(ClusterId=new_id, AvailabilityZone=zone)
    # The backup carries kmsuser with the password KMS rotated to, which KMS still keeps.
    repair_by_reconnecting(kms, store_id, CloudHsmClusterId=new_id)
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["CloudHsmClusterId"]) == ("Enabled", new_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"  # the backup carried the backing key


def test_store_rules(sim, kms, cloudhsm, scene):
    cluster_id, anchor = scene
    create_kmsuser(sim, cluster_id)
    store_id = new_store(kms, cluster_id, anchor, name="one")
    assert new_store(kms, cluster_id, anchor, name="one") == store_id  # the idempotent retry
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="one", CloudHsmClusterId=cluster_id,
                    TrustAnchorCertificate=anchor,
                    KeyStorePassword="otherPass12")[0] == "CustomKeyStoreNameInUseException"
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="two", CloudHsmClusterId=cluster_id,
                    TrustAnchorCertificate=anchor,
                    KeyStorePassword=KMSUSER_PASSWORD)[0] == "CloudHsmClusterInUseException"
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="two", CloudHsmClusterId="cluster-234567abcde",
                    TrustAnchorCertificate=anchor,
                    KeyStorePassword=KMSUSER_PASSWORD)[0] == "CloudHsmClusterNotFoundException"
    other_id, other_anchor = two_hsm_cluster(sim, cloudhsm)
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="two", CloudHsmClusterId=other_id,
                    TrustAnchorCertificate=anchor,
                    KeyStorePassword=KMSUSER_PASSWORD)[0] == "IncorrectTrustAnchorException"
    hsm = describe(cloudhsm, other_id)["Hsms"][1]
    cloudhsm.delete_hsm(ClusterId=other_id, HsmId=hsm["HsmId"])
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="two", CloudHsmClusterId=other_id,
                    TrustAnchorCertificate=other_anchor,
                    KeyStorePassword=KMSUSER_PASSWORD)[0] == "CloudHsmClusterInvalidConfigurationException"
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="two", CloudHsmClusterId=cluster_id,
                    TrustAnchorCertificate=anchor, KeyStorePassword=KMSUSER_PASSWORD,
                    XksProxyUriPath="/kms/xks/v1")[0] == "ValidationException"
    assert [s["CustomKeyStoreId"] for s in kms.describe_custom_key_stores()["CustomKeyStores"]] == [store_id]
    assert error_of(kms.describe_custom_key_stores, CustomKeyStoreName="nope")[0] == "CustomKeyStoreNotFoundException"
    assert error_of(kms.describe_custom_key_stores, Marker="garbage!")[0] == "InvalidMarkerException"
    # States: connect, rename while CONNECTED, no password change then, no delete while keys exist.
    assert connect(kms, store_id)["ConnectionState"] == "CONNECTED"
    kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
    assert store_state(kms, store_id)["CustomKeyStoreName"] == "renamed"
    assert error_of(kms.update_custom_key_store, CustomKeyStoreId=store_id,
                    KeyStorePassword="newPassword1")[0] == "CustomKeyStoreInvalidStateException"
    assert error_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id)
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert error_of(kms.disconnect_custom_key_store,
                    CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    assert error_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreHasCMKsException"
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    # Not related: UpdateCustomKeyStore to another cluster.
    assert error_of(kms.update_custom_key_store, CustomKeyStoreId=store_id,
                    CloudHsmClusterId=other_id)[0] == "CloudHsmClusterNotRelatedException"
    page = kms.describe_custom_key_stores(Limit=1)
    assert page["Truncated"] is False and len(page["CustomKeyStores"]) == 1
