"""Keys of a CloudHSM key store and the HSMs behind them: fail-over when an HSM goes, a backing key deleted out of
band by kmsuser with ``hsmsim cloudhsm-cli``, and the material left orphaned when KMS cannot delete it (spec 4.3,
4.5; https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html#fix-keystore-orphaned-key).

Each test runs in an account of its own with the plugin's fixtures (a CONNECTED ``custom_key_store``)."""

from __future__ import annotations

from typing import Any

from cks_helpers import store_state
from helpers import describe
from kms_helpers import error_of
from test_cloudhsm_cli import ok

from hsmsim.testing import KeyStore
from hsmsim.testing.clusters import DataPlane

KMSUSER_ENV = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "kmsuser:myOwnPass123"}


def backing_keys(endpoint: str, cluster_id: str) -> list[dict[str, Any]]:
    """``key list`` as kmsuser (after the store was disconnected and the admin set kmsuser's password)."""
    return ok(endpoint, cluster_id, "key", "list", "--max-items", "100", env=KMSUSER_ENV)["matched_keys"]


def take_over_kmsuser(kms: Any, store: KeyStore) -> None:
    """AWS's procedure to act as kmsuser: disconnect, an admin sets a password you know."""
    kms.disconnect_custom_key_store(CustomKeyStoreId=store.custom_key_store_id)
    assert store_state(kms, store.custom_key_store_id)["ConnectionState"] == "DISCONNECTED"
    admin, plane = store.cluster.admin, DataPlane(store.cluster.endpoint, store.cluster.cluster_id)
    token = plane.call("POST", "/login", {"username": admin.username, "password": admin.password,
                                          "role": "admin"})["token"]
    plane.call("POST", "/users/kmsuser/password", {"role": "crypto-user", "password": "myOwnPass123"}, token)
    plane.call("POST", "/logout", {}, token)


def test_the_next_hsm_serves_when_one_goes(kms_client, cloudhsmv2_client, custom_key_store, kms_key):
    kms, cloudhsm, store = kms_client, cloudhsmv2_client, custom_key_store()
    store_id, cluster_id = store.custom_key_store_id, store.cluster.cluster_id
    key_id = kms_key(store=store)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"survives")["CiphertextBlob"]
    first, second = [h["HsmId"] for h in describe(cloudhsm, cluster_id)["Hsms"]]
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=first)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"survives"
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")  # cloned: carries the backing key
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=second)
    assert [h["State"] for h in describe(cloudhsm, cluster_id)["Hsms"]] == ["ACTIVE"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"survives"
    again = kms.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=again)["Plaintext"] == b"new"
    third = describe(cloudhsm, cluster_id)["Hsms"][0]["HsmId"]
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=third)
    code, message, _ = error_of(kms.decrypt, CiphertextBlob=blob)
    assert code == "KMSInvalidStateException" and cluster_id in message
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"  # the state is unchanged
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED"
    # Creating a key needs two ACTIVE HSMs in two zones.
    assert error_of(kms.create_key, Origin="AWS_CLOUDHSM",
                    CustomKeyStoreId=store_id)[0] == "CloudHsmClusterInvalidConfigurationException"


def test_backing_key_deleted_out_of_band(kms_client, custom_key_store, kms_key, hsmsim_endpoint):
    kms, store = kms_client, custom_key_store()
    store_id, cluster_id = store.custom_key_store_id, store.cluster.cluster_id
    meta = kms_key(store=store)
    take_over_kmsuser(kms, store)
    (entry,) = backing_keys(hsmsim_endpoint, cluster_id)
    assert entry["attributes"]["label"] == meta["Arn"]
    ok(hsmsim_endpoint, cluster_id, "key", "delete", "--filter", f"key-reference={entry['key-reference']}", env=KMSUSER_ENV)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="myOwnPass123")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED"
    code, _, _ = error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x")
    assert code == "KMSInvalidStateException"
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_deletion_while_disconnected_leaves_the_material_orphaned(kms_client, custom_key_store, kms_key,
                                                                  hsmsim_clock, hsmsim_endpoint):
    kms, store = kms_client, custom_key_store()
    meta = kms_key(store=store)
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    take_over_kmsuser(kms, store)
    hsmsim_clock.advance(days=7, seconds=1)
    assert error_of(kms.describe_key, KeyId=meta["KeyId"])[0] == "NotFoundException"
    assert [k["attributes"]["label"] for k in backing_keys(hsmsim_endpoint, store.cluster.cluster_id)] == [
        meta["Arn"]]  # orphaned
    kms.delete_custom_key_store(CustomKeyStoreId=store.custom_key_store_id)  # no KMS key left
