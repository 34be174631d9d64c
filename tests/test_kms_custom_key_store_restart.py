"""CloudHSM key stores across a restart, and what the data dir holds: a CONNECTED store is CONNECTED again (KMS
logs in as kmsuser with the password it keeps) and its keys work; a FAILED or DISCONNECTED store stays so; no file
holds the KeyStorePassword, the password KMS rotated to, or any plaintext."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cks_helpers import (
    KMSUSER_PASSWORD,
    connected_store,
    login,
    set_kmsuser_password,
    store_state,
    two_hsm_cluster,
)
from conftest import ServerProcess

from hsmsim.cloudhsm.passwords import verify_password


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data").start()
    yield process
    process.stop()


def test_restart_keeps_connections(own_server: ServerProcess) -> None:
    kms, cloudhsm = own_server.client("kms"), own_server.client("cloudhsmv2")
    store_id, cluster_id = connected_store(own_server)
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    other_cluster, anchor = two_hsm_cluster(own_server, cloudhsm)
    failed = kms.create_custom_key_store(CustomKeyStoreName="failed", CloudHsmClusterId=other_cluster,
                                         TrustAnchorCertificate=anchor,
                                         KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=failed)
    assert store_state(kms, failed)["ConnectionErrorCode"] == "USER_NOT_FOUND"
    own_server.stop()
    own_server.start()
    kms = own_server.client("kms")
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED"
    assert (store_state(kms, failed)["ConnectionState"], store_state(kms, failed)["ConnectionErrorCode"]) == (
        "FAILED", "USER_NOT_FOUND")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    status, body = set_kmsuser_password(own_server, cluster_id, "otherPass123")
    assert body["__type"] == "UserLoggedIn", body  # KMS logged in again as kmsuser
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    own_server.stop()
    own_server.start()
    kms = own_server.client("kms")
    assert store_state(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    assert set_kmsuser_password(own_server, cluster_id, "otherPass123")[0] == 200


SECRET_PLAINTEXT = b"plaintext-that-must-never-be-stored-0123456789"
ROTATED = re.compile(rb"[A-Za-z0-9]{32}")


def test_no_password_or_plaintext_in_the_data_dir(own_server: ServerProcess) -> None:
    kms = own_server.client("kms")
    store_id, cluster_id = connected_store(own_server)
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=SECRET_PLAINTEXT)["CiphertextBlob"]
    status, _ = login(own_server, cluster_id, "kmsuser", KMSUSER_PASSWORD, "crypto-user")
    assert status == 401  # rotated
    own_server.stop()
    with sqlite3.connect(own_server.data_dir / "hsmsim.db") as connection:
        (stored_hash,) = connection.execute(
            "select password_hash from cloudhsm_users where cluster_id = ? and username = 'kmsuser'", (cluster_id,)
        ).fetchone()
    log = own_server.data_dir.parent / f"{own_server.data_dir.name}-server.log"
    files = [p for p in own_server.data_dir.rglob("*") if p.is_file()] + [log]
    candidates: set[bytes] = set()
    for path in files:
        data = path.read_bytes()
        assert KMSUSER_PASSWORD.encode() not in data, path
        assert SECRET_PLAINTEXT not in data, path
        # The rotated password is 32 letters and digits: no such run in any file is kmsuser's password.
        candidates |= {m for m in ROTATED.findall(data) if not re.fullmatch(rb"[0-9a-f]{32}", m)}
    assert len(candidates) < 200, len(candidates)
    assert not [c for c in candidates if verify_password(c.decode(), stored_hash)]
    own_server.start()
    assert own_server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == SECRET_PLAINTEXT


def test_a_kill_during_the_connection_is_repaired_by_the_restart(own_server: ServerProcess) -> None:
    """SIGKILL right after ConnectCustomKeyStore returned (CONNECTING, or already CONNECTED): the restarted server
    completes the connection and the key works."""
    kms = own_server.client("kms")
    store_id, _ = connected_store(own_server)
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["KeyId"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert own_server.process is not None
    own_server.process.kill()
    own_server.process.wait()
    own_server.start()
    kms = own_server.client("kms")
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED"
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"after the kill")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after the kill"
