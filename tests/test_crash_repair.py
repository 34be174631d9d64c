"""What a kill -9 can leave in a data dir, planted in a *stopped* data dir made by a real server, then a restart.

One data dir is made per module by a real server (an ACTIVE cluster with two HSMs, a crypto user with an AES key,
kmsuser, a CONNECTED custom key store with a KMS key and a ciphertext of it) and stopped; each test copies it,
plants one broken state the way a kill leaves it (measured with strace, see hsmsim.hsm.repair), starts a server on
the copy and checks that it starts without a traceback, that the cluster works (key generation and ``key list``
through the data plane, CreateHsm, DeleteHsm, KMS Encrypt/Decrypt with the custom key store's key), that the broken
file was repaired or set aside in ``quarantine/`` beside ``tokens/`` with one log line, and that an HSM whose token
is lost for good is DEGRADED while the cluster goes on with the other.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cks_helpers import as_admin, connected_store, login, plane
from conftest import ServerProcess
from helpers import describe

from hsmsim.hsm import tokenfiles as tf
from hsmsim.testing.server import ServerStartError

ALICE = ("alice", "Alice-Pass-1")


@dataclass
class Made:
    """The stopped template data dir and what is in it."""

    data_dir: Path
    cluster_id: str
    hsms: list[str]  # HSM ids, in creation order
    store_id: str
    kms_key: str
    ciphertext: bytes
    key_reference: str


def alice_token(sim: ServerProcess, cluster_id: str) -> str:
    status, body = login(sim, cluster_id, *ALICE, "crypto-user")
    assert status == 200, body
    return body["token"]


def generate(sim: ServerProcess, cluster_id: str, label: str) -> str:
    status, body = plane(sim, cluster_id, "POST", "/keys/generate-symmetric",
                         {"key_type": "aes", "label": label, "key_length_bytes": 32}, alice_token(sim, cluster_id))
    assert status == 200, body
    return body["data"]["key"]["key-reference"] if "data" in body else body["key"]["key-reference"]


def key_list(sim: ServerProcess, cluster_id: str) -> set[str]:
    status, body = plane(sim, cluster_id, "GET", "/keys", None, alice_token(sim, cluster_id))
    assert status == 200, body
    data = body.get("data", body)
    return {k["key-reference"] for k in data["matched_keys"]}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    server = ServerProcess(tmp_path_factory.mktemp("template") / "data").start()
    try:
        kms, cloudhsm = server.client("kms"), server.client("cloudhsmv2")
        store_id, cluster_id = connected_store(server)
        status, body = as_admin(server, cluster_id, "POST", "/users",
                                {"username": ALICE[0], "role": "crypto-user", "password": ALICE[1]})
        assert status == 200, body
        reference = generate(server, cluster_id, "before-the-crash")
        kms_key = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["KeyId"]
        ciphertext = kms.encrypt(KeyId=kms_key, Plaintext=b"acknowledged")["CiphertextBlob"]
        hsms = [h["HsmId"] for h in describe(cloudhsm, cluster_id)["Hsms"]]
    finally:
        server.stop()
    return Made(server.data_dir, cluster_id, hsms, store_id, kms_key, ciphertext, reference)


@pytest.fixture
def data_dir(made: Made, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(made.data_dir, copy)
    return copy


@pytest.fixture
def started(data_dir: Path) -> Iterator[list[ServerProcess]]:
    """Servers started by the test; stopped afterwards."""
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop()


def start(data_dir: Path, servers: list[ServerProcess]) -> ServerProcess:
    server = ServerProcess(data_dir)
    servers.append(server)
    return server.start()


def token_of(data_dir: Path, label: str) -> Path:
    """The token directory whose token.object carries ``label``."""
    found = []
    for _serial, path in tf.list_token_dirs(data_dir / "tokens"):
        raw = tf.read_object(path / tf.TOKEN_OBJECT).get_bytes(tf.CKA_OS_TOKENLABEL) or b""
        if raw.decode().strip() == label:
            found.append(path)
    assert len(found) == 1, found
    return found[0]


def quarantined(data_dir: Path) -> list[str]:
    q = data_dir / "quarantine"
    return sorted(p.name.split("-", 1)[1] for p in q.iterdir()) if q.exists() else []


def log_lines(server: ServerProcess, word: str) -> list[str]:
    return [line for line in server.log_since(0).splitlines() if word in line]


def assert_clean_log(server: ServerProcess) -> None:
    log = server.log_since(0)
    assert "Traceback" not in log, log
    assert [line for line in log.splitlines() if " ERROR " in line] == []


def assert_usable(server: ServerProcess, made: Made, active: list[str]) -> None:
    """The cluster works on its ``active`` HSMs: keys, key list, KMS with the store's key, CreateHsm, DeleteHsm."""
    cloudhsm, kms = server.client("cloudhsmv2"), server.client("kms")
    cluster = describe(cloudhsm, made.cluster_id)
    assert cluster["State"] == "ACTIVE"
    assert [h["HsmId"] for h in cluster["Hsms"] if h["State"] == "ACTIVE"] == active
    new_reference = generate(server, made.cluster_id, "after-the-restart")
    assert {made.key_reference, new_reference} <= key_list(server, made.cluster_id)
    assert kms.decrypt(CiphertextBlob=made.ciphertext)["Plaintext"] == b"acknowledged"
    blob = kms.encrypt(KeyId=made.kms_key, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
    third = cloudhsm.create_hsm(ClusterId=made.cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    states = {h["HsmId"]: h["State"] for h in describe(cloudhsm, made.cluster_id)["Hsms"]}
    assert states[third] == "ACTIVE"
    cloudhsm.delete_hsm(ClusterId=made.cluster_id, HsmId=third)
    assert third not in [h["HsmId"] for h in describe(cloudhsm, made.cluster_id)["Hsms"]]
    assert {made.key_reference, new_reference} <= key_list(server, made.cluster_id)
    assert_clean_log(server)


def test_the_template_restarts_cleanly(made: Made, data_dir: Path, started):
    server = start(data_dir, started)
    assert_usable(server, made, made.hsms)
    assert quarantined(data_dir) == []


def test_token_without_user_pin(made: Made, data_dir: Path, started):
    """Bug 1: C_InitToken done, C_InitPIN not; every start used to exit with CKR_USER_PIN_NOT_INITIALIZED."""
    path = token_of(data_dir, made.hsms[1])
    obj = tf.read_object(path / tf.TOKEN_OBJECT)
    obj.records = [r for r in obj.records if r[0] != tf.CKA_OS_USERPIN]
    flags = [i for i, r in enumerate(obj.records) if r[0] == tf.CKA_OS_TOKENFLAGS]
    for i in flags:  # SoftHSM's flags as C_InitToken leaves them: USER_PIN_INITIALIZED (0x8) not yet set
        a_type, kind, raw = obj.records[i]
        obj.records[i] = (a_type, kind, (int.from_bytes(raw, "big") & ~0x8).to_bytes(8, "big"))
    (path / tf.TOKEN_OBJECT).write_bytes(obj.encode())

    server = start(data_dir, started)
    assert len(log_lines(server, "had no user PIN")) == 1
    assert_usable(server, made, made.hsms)
    assert quarantined(data_dir) == []


def test_empty_object_file_of_a_key_generation_cut_short(made: Made, data_dir: Path, started):
    """Bug 2: a 0-byte ``<uuid>.object`` (and its lock) in an ACTIVE HSM's token."""
    path = token_of(data_dir, made.hsms[0])
    name = "0badf00d-0000-4000-8000-00000000cafe"
    (path / f"{name}.object").write_bytes(b"")
    (path / f"{name}.lock").write_bytes(b"")

    server = start(data_dir, started)
    assert len(log_lines(server, "quarantined")) == 1
    assert quarantined(data_dir) == [f"{path.name}-{name}.object"]
    assert not (path / f"{name}.lock").exists()
    assert_usable(server, made, made.hsms)


def test_truncated_object_file_is_copied_from_the_peer(made: Made, data_dir: Path, started):
    """An existing key's object file emptied on one HSM: the other HSM of the cluster holds it whole."""
    first, second = token_of(data_dir, made.hsms[0]), token_of(data_dir, made.hsms[1])
    shared = sorted(set(tf.object_names(first)) & set(tf.object_names(second)))
    assert shared
    for name in shared:
        (second / name).write_bytes(b"")

    server = start(data_dir, started)
    assert len(log_lines(server, "copied again from the same object of clone")) == len(shared)
    assert all((second / n).read_bytes() == (first / n).read_bytes() for n in shared)
    assert quarantined(data_dir) == []
    assert_usable(server, made, made.hsms)


def test_half_made_token_directory(made: Made, data_dir: Path, started):
    """Bug 3: a kill inside C_InitToken leaves ``tokens/<uuid>/`` with a 0-byte token.object."""
    half = data_dir / "tokens" / "5eed5eed-0000-4000-8000-0123456789ab"
    half.mkdir()
    (half / tf.TOKEN_OBJECT).write_bytes(b"")
    (half / tf.TOKEN_LOCK).write_bytes(b"")

    server = start(data_dir, started)
    assert len(log_lines(server, "quarantined")) == 1
    assert quarantined(data_dir) == [half.name]
    assert not half.exists()
    assert_usable(server, made, made.hsms)
    server.stop()
    server.start()  # found once, not on every scan
    assert log_lines(server, "quarantined") == log_lines(server, "half-made token directory")
    assert len(log_lines(server, "quarantined")) == 1


def test_token_lost_for_good(made: Made, data_dir: Path, started):
    """A token whose token.object is torn is set aside; its HSM is DEGRADED and the cluster goes on with the other."""
    path = token_of(data_dir, made.hsms[1])
    raw = (path / tf.TOKEN_OBJECT).read_bytes()
    (path / tf.TOKEN_OBJECT).write_bytes(raw[:40])

    server = start(data_dir, started)
    assert quarantined(data_dir) == [path.name]
    assert len(log_lines(server, "quarantined")) == 1
    hsms = {h["HsmId"]: h["State"] for h in describe(server.client("cloudhsmv2"), made.cluster_id)["Hsms"]}
    assert hsms == {made.hsms[0]: "ACTIVE", made.hsms[1]: "DEGRADED"}
    assert len(log_lines(server, "marking it DEGRADED")) == 1
    assert_usable(server, made, [made.hsms[0]])
    server.client("cloudhsmv2").delete_hsm(ClusterId=made.cluster_id, HsmId=made.hsms[1])


def test_deleted_token_directory(made: Made, data_dir: Path, started):
    shutil.rmtree(token_of(data_dir, made.hsms[0]))
    server = start(data_dir, started)
    hsms = {h["HsmId"]: h["State"] for h in describe(server.client("cloudhsmv2"), made.cluster_id)["Hsms"]}
    assert hsms == {made.hsms[0]: "DEGRADED", made.hsms[1]: "ACTIVE"}
    assert_usable(server, made, [made.hsms[1]])


def test_lost_kms_domain_key_stops_the_start_loudly(made: Made, data_dir: Path, started):
    """Never a silent new domain key: the database holds what the old one wrapped."""
    shutil.rmtree(token_of(data_dir, "hsmsim-kms"))
    with pytest.raises(ServerStartError, match="status 3"):
        start(data_dir, started)
    log = started[0].log_since(0)
    assert "Traceback" not in log
    (line,) = [line for line in log.splitlines() if " ERROR " in line]
    assert "KMS domain-key token ('hsmsim-kms') is missing" in line and "refusing to start" in line
    assert not any(label == "hsmsim-kms" for label in _labels(data_dir))  # no new key was made


def test_lost_root_ca_token_makes_new_roots(made: Made, data_dir: Path, started):
    shutil.rmtree(token_of(data_dir, "hsmsim-roots"))
    old = (data_dir / "roots" / "aws-root.pem").read_bytes()
    server = start(data_dir, started)
    assert len(log_lines(server, "the simulated root CAs were incomplete")) == 1
    assert (data_dir / "roots" / "aws-root.pem").read_bytes() != old
    cloudhsm = server.client("cloudhsmv2")
    cluster = cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=["subnet-0123456789abcdefa"])["Cluster"]
    cloudhsm.create_hsm(ClusterId=cluster["ClusterId"], AvailabilityZone="us-east-1a")
    assert describe(cloudhsm, cluster["ClusterId"])["Certificates"]["ClusterCsr"].startswith("-----BEGIN")
    assert_usable(server, made, made.hsms)


def _labels(data_dir: Path) -> list[str]:
    return [(tf.read_object(p / tf.TOKEN_OBJECT).get_bytes(tf.CKA_OS_TOKENLABEL) or b"").decode().strip()
            for _s, p in tf.list_token_dirs(data_dir / "tokens")]
