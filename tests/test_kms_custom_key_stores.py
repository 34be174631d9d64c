"""AWS CloudHSM key stores end to end: AWS's tutorial flow with boto3 against a real server, real SoftHSM tokens
and ``hsmsim cloudhsm-cli`` as a subprocess.

https://docs.aws.amazon.com/kms/latest/developerguide/create-keystore.html, connect-keystore.html,
disconnect-keystore.html, delete-cmk-keystore.html (spec 3, 4).

The tutorial walks the flow step by step, and the limit of ten stores needs 22 HSMs (more than an account's default
quota of 6, which the plugin's server keeps): both run on the reset ``sim`` server (``--max-hsms 50``) in account
111122223333. The other tests need only a CONNECTED store and use the plugin's fixtures (an account of their own).
"""

from __future__ import annotations

from typing import Any

from cks_helpers import KMSUSER_PASSWORD, create_kmsuser, login, store_state, two_hsm_cluster
from helpers import describe
from kms_helpers import error_of
from test_cloudhsm_cli import fails
from test_cloudhsm_keys import token_objects

from hsmsim.testing.clusters import DataPlane


def test_tutorial_flow(sim: Any, kms: Any, cloudhsm: Any) -> None:
    cluster_id, anchor = two_hsm_cluster(sim, cloudhsm)
    create_kmsuser(sim, cluster_id)
    store_id = kms.create_custom_key_store(CustomKeyStoreName="ExampleCloudHSMKeyStore", CloudHsmClusterId=cluster_id,
                                           TrustAnchorCertificate=anchor,
                                           KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    assert store_id.startswith("cks-") and len(store_id) == 21
    entry = store_state(kms, store_id)
    assert entry["ConnectionState"] == "DISCONNECTED" and "ConnectionErrorCode" not in entry
    assert (entry["CloudHsmClusterId"], entry["CustomKeyStoreType"]) == (cluster_id, "AWS_CLOUDHSM")
    assert "KeyStorePassword" not in entry

    assert kms.connect_custom_key_store(CustomKeyStoreId=store_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED"
    # KMS is logged in as kmsuser and rotated its password: the old one no longer works, and nobody else logs in.
    status, envelope = login(sim, cluster_id, "kmsuser", KMSUSER_PASSWORD, "crypto-user")
    assert status == 401 and envelope["__type"] == "InvalidCredentials", envelope
    assert "Invalid" in fails(sim, cluster_id, "login", "--username", "kmsuser", "--role", "crypto-user",
                              "--password", KMSUSER_PASSWORD)

    meta = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, Description="in the HSM")["KeyMetadata"]
    hsm_ids = [h["HsmId"] for h in describe(cloudhsm, cluster_id)["Hsms"]]
    for hsm_id in hsm_ids:  # pkcs11-tool, in a process of its own, finds the backing key on every HSM's token
        assert [o for o in token_objects(sim, hsm_id) if o[1] == meta["Arn"]] != [], hsm_id
    assert (meta["Origin"], meta["CustomKeyStoreId"], meta["CloudHsmClusterId"]) == ("AWS_CLOUDHSM", store_id,
                                                                                      cluster_id)
    assert (meta["KeyState"], meta["KeySpec"], meta["KeyUsage"]) == ("Enabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert "CurrentKeyMaterialId" not in meta
    key_id = meta["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret data", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"secret data"
    assert error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "c"})[0] == "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]["KeyId"]  # ReEncrypt across the HSM and an AWS_KMS key, both ways
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "b"}, DestinationKeyId=other)
    back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=key_id)
    assert (moved["SourceKeyId"], back["KeyId"]) == (meta["Arn"], meta["Arn"])
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"secret data"
    without = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=24)["CiphertextBlob"]
    assert len(kms.decrypt(CiphertextBlob=without)["Plaintext"]) == 24
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    assert len(kms.generate_random(NumberOfBytes=40, CustomKeyStoreId=store_id)["Plaintext"]) == 40

    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    code, message, status = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert (code, message, status) == ("KMSInvalidStateException", f"{meta['Arn']} is unavailable.", 400)
    assert error_of(kms.create_key, Origin="AWS_CLOUDHSM",
                    CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    assert error_of(kms.generate_random, NumberOfBytes=8,
                    CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    kms.disable_key(KeyId=key_id)  # accepted while Unavailable; takes effect at reconnect
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"secret data"

    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    sim.advance(7 * 86400 + 1)
    assert error_of(kms.describe_key, KeyId=key_id)[0] == "NotFoundException"
    for hsm_id in hsm_ids:  # the backing key is gone from every HSM
        assert [o for o in token_objects(sim, hsm_id) if o[1] == meta["Arn"]] == [], hsm_id
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []


def test_unsupported_operations_on_cloudhsm_keys(kms_client: Any, custom_key_store: Any, kms_key: Any,
                                               hsmsim_endpoint: str) -> None:
    kms = kms_client
    store = custom_key_store()
    key_id = kms_key(store=store)["KeyId"]
    for call, kwargs in [(kms.enable_key_rotation, {}), (kms.get_key_rotation_status, {}),
                         (kms.rotate_key_on_demand, {}), (kms.list_key_rotations, {}),
                         (kms.get_parameters_for_import, {"WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                                                          "WrappingKeySpec": "RSA_2048"}),
                         (kms.generate_data_key_pair, {"KeyPairSpec": "ECC_NIST_P256"})]:
        assert error_of(call, KeyId=key_id, **kwargs)[0] == "UnsupportedOperationException", call
    for kwargs in [{"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, {"MultiRegion": True}]:
        assert error_of(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store.custom_key_store_id,
                        **kwargs)[0] == "UnsupportedOperationException"
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="x",
                    CustomKeyStoreType="EXTERNAL_KEY_STORE")[0] == "UnsupportedOperationException"
    assert error_of(kms.create_key, Origin="AWS_CLOUDHSM")[0] == "ValidationException"
    status, body = DataPlane(hsmsim_endpoint, "cluster-x").request("GET", "/users")
    assert status == 404


def test_ten_stores_per_account_and_region(sim: Any, kms: Any, cloudhsm: Any) -> None:
    for i in range(10):
        cluster_id, anchor = two_hsm_cluster(sim, cloudhsm)
        kms.create_custom_key_store(CustomKeyStoreName=f"store-{i}", CloudHsmClusterId=cluster_id,
                                    TrustAnchorCertificate=anchor, KeyStorePassword=KMSUSER_PASSWORD)
    cluster_id, anchor = two_hsm_cluster(sim, cloudhsm)
    code, _, _ = error_of(kms.create_custom_key_store, CustomKeyStoreName="eleventh", CloudHsmClusterId=cluster_id,
                          TrustAnchorCertificate=anchor, KeyStorePassword=KMSUSER_PASSWORD)
    assert code == "LimitExceededException"
    first = kms.describe_custom_key_stores(Limit=4)
    assert first["Truncated"] is True and len(first["CustomKeyStores"]) == 4
    rest = kms.describe_custom_key_stores(Marker=first["NextMarker"])
    names = [s["CustomKeyStoreName"] for s in first["CustomKeyStores"] + rest["CustomKeyStores"]]
    assert names == [f"store-{i}" for i in range(10)] and rest["Truncated"] is False
    other = sim.client("kms", account="444455556666")  # another account has its own ten
    assert other.describe_custom_key_stores()["CustomKeyStores"] == []
