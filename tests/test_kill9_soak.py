"""kill -9 at random moments under a concurrent workload, restart on the same data dir, check what was acknowledged.

One real server (``python -m hsmsim serve``, a subprocess) on one data dir, SQLite. Set-up, not under the kill:
cluster A (two HSMs, kmsuser and a crypto user ``appuser``) behind custom key store S1 (CONNECTED), cluster B (two
HSMs, kmsuser, appuser) behind store S2. Then ROUNDS rounds, each: the workers below run against the server; after a
window of ``rng.uniform(*WINDOW_S)`` seconds (``random.Random(SEED)``: the same moments every run, the interleaving
of the threads is the scheduler's) the server gets SIGKILL; the workers stop at their first connection error after
the kill; the server is started again on the same data dir and killed again ``rng.uniform(*START_KILL_S)`` seconds
into that start (inside the start-up repair or reconciliation of what the first kill left, when it lands before the
server is ready), then started once more and checked while idle.

The workers (threads of the test process, boto3 with no retries, the data plane over HTTP) each cover one path that
writes to the data dir, so that a kill can land inside each kind of write:

* ``kms``: CreateKey (AWS_KMS), CreateAlias/UpdateAlias, Encrypt, GenerateDataKey, Decrypt — database rows and
  key material wrapped by the domain key (KMS's own token).
* ``cks``: CreateKey in S1 (a key generated in cluster A's HSMs, replicated to both, plus the database row) and
  Encrypt/Decrypt with those keys through the HSM.
* ``hsms``: CreateHsm/DeleteHsm of a third HSM of cluster A — token creation by clone (C_InitToken, C_InitPIN, file
  copies, backup) and token removal, while the other workers write objects to the same cluster.
* ``plane``: key generation through the data plane as appuser on cluster A — SoftHSM's in-place object writes.
* ``store``: ConnectCustomKeyStore/DisconnectCustomKeyStore of S2 — the kmsuser password rotation (HSM user row and
  the wrapped password) and the store's state.

What counts as done is what the client saw acknowledged: an HTTP 200. A request in flight at the kill may or may not
have happened, so the ledger keeps, per alias and per store, the acknowledged value *and* the one in flight, and
either is accepted after the restart; an HSM whose CreateHsm/DeleteHsm was in flight may or may not exist. Before
the kill every request must succeed (a 4xx/5xx or a dropped connection then is a failure of the test).

Checked after every restart (the guarantees of README "Crash safety"):

1. The server starts (health OK) and the part of its log written since the restart has no ``Traceback`` (repair
   warnings are allowed: they are the documented repair).
2. Every acknowledged KMS key exists and is Enabled (DescribeKey; S2's key Unavailable while S2 is not
   connected, as in AWS); every acknowledged alias points to its acknowledged target (or the one of an
   UpdateAlias in flight).
3. Every acknowledged ciphertext decrypts to its plaintext: AWS_KMS keys, and keys of S1 (CONNECTED throughout) and
   S2 (while connected, see 6) through the HSMs.
4. Every HSM of A and B is ACTIVE or DEGRADED; an HSM whose CreateHsm was acknowledged exists, one whose DeleteHsm
   was acknowledged does not; a cluster with an ACTIVE HSM generates a key through the data plane and takes a
   CreateHsm (which the check deletes again); after that key generation the ACTIVE HSMs of the cluster hold the
   same object files. Not before it: a key generation in flight at the kill can leave its object on one HSM with
   no ownership row (invisible to every user); hsmsim.cloudhsm.drift removes such objects before the next key
   write on the cluster (or at its periodic check), not at start-up, so the files agree only once one ran.
5. Every acknowledged data-plane key is listed by ``key list`` (GET /keys) of cluster A.
6. S1 is CONNECTED. S2 is in the state of its last acknowledged connect/disconnect (or of the one in flight), never
   FAILED or stuck; from that stable state a disconnect and a connect work, and S2's ciphertexts decrypt.

Bounds: ROUNDS rounds, windows of 0.2–1.5 s, OPS_PER_ROUND requests per worker at most, every loop bounded; the
whole test takes about 30 s on two cores. No assertion on wall-clock time.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from cks_helpers import connected_store
from conftest import ACCOUNT, REGION, ServerProcess
from helpers import ADMIN, USERS, describe

from hsmsim.hsm import tokenfiles as tf
from hsmsim.testing.clusters import DataPlane
from hsmsim.testing.server import ServerStartError

SEED = 20240610
ROUNDS = 6
WINDOW_S = (0.2, 1.5)
START_KILL_S = (0.3, 1.2)  # into a start-up (~0.9 s): in the imports, in the repair pass, in reconciliation, or after
OPS_PER_ROUND = 400  # per worker: far more than a window lets through; only a bound
SETTLE_STEPS = 40
APPUSER = USERS.crypto_user
EXTRA_ZONE = "us-east-1a"  # A's third HSM shares a zone with its first


class ServerGone(Exception):
    """The connection failed after the kill: the worker stops."""


@dataclass
class Ledger:
    """What the server acknowledged (and what was in flight at the kill), shared by the workers."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    kms_keys: set[str] = field(default_factory=set)
    aws_kms_keys: set[str] = field(default_factory=set)  # the AWS_KMS ones (the kms worker's)
    aliases: dict[str, set[str]] = field(default_factory=dict)  # alias -> acceptable targets
    ciphertexts: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (key id, blob, plaintext)
    s2_ciphertexts: list[tuple[bytes, bytes]] = field(default_factory=list)
    plane_keys: set[str] = field(default_factory=set)
    hsms_present: set[str] = field(default_factory=set)  # extra HSMs of A whose CreateHsm was acknowledged
    hsms_deleted: set[str] = field(default_factory=set)  # ... whose DeleteHsm was acknowledged
    hsms_unsure: set[str] = field(default_factory=set)  # a DeleteHsm in flight at the kill
    s2_states: set[str] = field(default_factory=lambda: {"CONNECTED"})  # acceptable stable states of S2
    failures: list[str] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        with self.lock:
            self.ops[name] = self.ops.get(name, 0) + 1


@dataclass
class World:
    server: ServerProcess
    cluster_a: str
    cluster_b: str
    s1: str
    s2: str
    s2_key: str
    base_hsms: dict[str, set[str]]  # cluster -> the HSMs made at set-up
    ledger: Ledger = field(default_factory=Ledger)
    killed: threading.Event = field(default_factory=threading.Event)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.server.url, region_name=REGION, aws_access_key_id=ACCOUNT,
                            aws_secret_access_key="secret",
                            config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                                              read_timeout=60))


def guarded(world: World, what: str, call: Callable[[], Any]) -> Any:
    """``call()``; a connection error after the kill raises ServerGone, any failure before it is recorded."""
    try:
        return call()
    except (HTTPClientError, BotoConnectionError, OSError, http.client.HTTPException) as error:
        if world.killed.is_set():
            raise ServerGone from error
        raise AssertionError(f"{what}: connection failed before the kill: {error!r}") from error
    except ClientError as error:  # an error answer, even one racing the kill, is a failure
        raise AssertionError(f"{what}: {error}") from error


def plane_call(world: World, cluster: str, what: str, method: str, path: str, body: Any = None,
               token: str | None = None) -> Any:
    status, envelope = guarded(world, what, lambda: DataPlane(world.server.url, cluster).request(method, path, body,
                                                                                                 token))
    if status != 200:
        raise AssertionError(f"{what}: HTTP {status} {envelope}")
    return envelope


def appuser_token(world: World, cluster: str) -> str:
    return plane_call(world, cluster, "login", "POST", "/login", {"username": APPUSER.username,
                                                                  "password": APPUSER.password,
                                                                  "role": "crypto-user"})["token"]


# -- the workers -------------------------------------------------------------------------------------------------


def kms_worker(world: World, rng: random.Random, round_no: int) -> None:
    kms, ledger = world.client("kms"), world.ledger
    mine: list[str] = sorted(ledger.aws_kms_keys)
    for i in range(OPS_PER_ROUND):
        op = rng.choice(("create", "create", "alias", "encrypt", "encrypt", "datakey", "decrypt")) if mine else "create"
        if op == "create":
            key = guarded(world, "CreateKey", lambda: kms.create_key(Description=f"soak {round_no}.{i}"))
            key_id = key["KeyMetadata"]["KeyId"]
            with ledger.lock:
                ledger.kms_keys.add(key_id)
                ledger.aws_kms_keys.add(key_id)
            mine.append(key_id)
        elif op == "alias":
            target = rng.choice(mine)
            with ledger.lock:
                existing = sorted(ledger.aliases)
            if existing and rng.random() < 0.5:
                name = rng.choice(existing)
                with ledger.lock:
                    before = set(ledger.aliases[name])
                    ledger.aliases[name] = before | {target}  # in flight: either
                guarded(world, "UpdateAlias", lambda: kms.update_alias(AliasName=name, TargetKeyId=target))
            else:
                name = f"alias/soak-{round_no}-{i}"
                with ledger.lock:
                    ledger.aliases[name] = {target, ""}  # "" : in flight, may not exist
                guarded(world, "CreateAlias", lambda: kms.create_alias(AliasName=name, TargetKeyId=target))
            with ledger.lock:
                ledger.aliases[name] = {target}
        elif op in ("encrypt", "datakey"):
            key_id, plaintext = rng.choice(mine), rng.randbytes(rng.randint(1, 64))
            if op == "encrypt":
                blob = guarded(world, "Encrypt", lambda: kms.encrypt(KeyId=key_id, Plaintext=plaintext))
                blob = blob["CiphertextBlob"]
            else:
                answer = guarded(world, "GenerateDataKey", lambda: kms.generate_data_key(KeyId=key_id,
                                                                                       NumberOfBytes=32))
                blob, plaintext = answer["CiphertextBlob"], answer["Plaintext"]
            with ledger.lock:
                ledger.ciphertexts.append((key_id, blob, plaintext))
        else:
            with ledger.lock:
                key_id, blob, plaintext = rng.choice(ledger.ciphertexts) if ledger.ciphertexts else (None, b"", b"")
            if key_id is not None:
                answer = guarded(world, "Decrypt", lambda: kms.decrypt(CiphertextBlob=blob))
                assert answer["Plaintext"] == plaintext, f"Decrypt under load gave another plaintext ({key_id})"
        ledger.count(f"kms.{op}")


def cks_worker(world: World, rng: random.Random, round_no: int) -> None:
    kms, ledger = world.client("kms"), world.ledger
    mine: list[str] = []
    for i in range(OPS_PER_ROUND):
        op = rng.choice(("create", "encrypt", "encrypt", "decrypt")) if mine else "create"
        if op == "create":
            key = guarded(world, "CreateKey in S1", lambda: kms.create_key(
                Origin="AWS_CLOUDHSM", CustomKeyStoreId=world.s1, Description=f"soak cks {round_no}.{i}"))
            key_id = key["KeyMetadata"]["KeyId"]
            with ledger.lock:
                ledger.kms_keys.add(key_id)
            mine.append(key_id)
        elif op == "encrypt":
            key_id, plaintext = rng.choice(mine), rng.randbytes(rng.randint(1, 64))
            blob = guarded(world, "Encrypt with S1", lambda: kms.encrypt(KeyId=key_id, Plaintext=plaintext))
            with ledger.lock:
                ledger.ciphertexts.append((key_id, blob["CiphertextBlob"], plaintext))
        else:
            with ledger.lock:
                known = [c for c in ledger.ciphertexts if c[0] in mine]
            if known:
                key_id, blob, plaintext = rng.choice(known)
                answer = guarded(world, "Decrypt with S1", lambda: kms.decrypt(CiphertextBlob=blob))
                assert answer["Plaintext"] == plaintext
        ledger.count(f"cks.{op}")


def hsm_worker(world: World, rng: random.Random, round_no: int) -> None:
    cloudhsm, ledger = world.client("cloudhsmv2"), world.ledger
    for _ in range(OPS_PER_ROUND):
        with ledger.lock:
            extras = sorted(ledger.hsms_present)
        if extras:
            hsm_id = extras[0]
            with ledger.lock:
                ledger.hsms_unsure.add(hsm_id)
            guarded(world, "DeleteHsm", lambda: cloudhsm.delete_hsm(ClusterId=world.cluster_a, HsmId=hsm_id))
            with ledger.lock:
                ledger.hsms_present.discard(hsm_id)
                ledger.hsms_unsure.discard(hsm_id)
                ledger.hsms_deleted.add(hsm_id)
            ledger.count("hsms.delete")
        else:
            hsm = guarded(world, "CreateHsm", lambda: cloudhsm.create_hsm(ClusterId=world.cluster_a,
                                                                         AvailabilityZone=EXTRA_ZONE))["Hsm"]
            with ledger.lock:
                ledger.hsms_present.add(hsm["HsmId"])
            ledger.count("hsms.create")


def plane_worker(world: World, rng: random.Random, round_no: int) -> None:
    ledger = world.ledger
    token = appuser_token(world, world.cluster_a)
    for i in range(OPS_PER_ROUND):
        body = {"key_type": "aes", "label": f"soak-{round_no}-{i}", "key_length_bytes": rng.choice((16, 24, 32))}
        data = plane_call(world, world.cluster_a, "generate-symmetric", "POST", "/keys/generate-symmetric", body,
                          token)
        with ledger.lock:
            ledger.plane_keys.add(data.get("data", data)["key"]["key-reference"])
        ledger.count("plane.generate")


def store_worker(world: World, rng: random.Random, round_no: int) -> None:
    kms, ledger = world.client("kms"), world.ledger
    for _ in range(OPS_PER_ROUND // 10):
        state = store_state(world, kms, world.s2)
        target = "DISCONNECTED" if state == "CONNECTED" else "CONNECTED"
        assert state in ("CONNECTED", "DISCONNECTED"), f"S2 is {state} under load"
        with ledger.lock:
            ledger.s2_states = {state, target}
        if target == "CONNECTED":
            guarded(world, "ConnectCustomKeyStore", lambda: kms.connect_custom_key_store(CustomKeyStoreId=world.s2))
        else:
            guarded(world, "DisconnectCustomKeyStore",
                    lambda: kms.disconnect_custom_key_store(CustomKeyStoreId=world.s2))
        with ledger.lock:
            ledger.s2_states = {target}
        ledger.count(f"store.{target.lower()}")
        if target == "CONNECTED" and settle_store(world, kms, world.s2) == "CONNECTED":
            plaintext = rng.randbytes(16)
            blob = guarded(world, "Encrypt with S2", lambda: kms.encrypt(KeyId=world.s2_key, Plaintext=plaintext))
            with ledger.lock:
                ledger.s2_ciphertexts.append((blob["CiphertextBlob"], plaintext))


def store_state(world: World, kms: Any, store_id: str) -> str:
    view = guarded(world, "DescribeCustomKeyStores",
                   lambda: kms.describe_custom_key_stores(CustomKeyStoreId=store_id))["CustomKeyStores"][0]
    return view["ConnectionState"] + (f" ({view['ConnectionErrorCode']})" if "ConnectionErrorCode" in view else "")


def settle_store(world: World, kms: Any, store_id: str) -> str:
    """The store's state once it is not CONNECTING/DISCONNECTING (the simulated clock advanced, bounded)."""
    step = 0.1
    for _ in range(SETTLE_STEPS):
        state = store_state(world, kms, store_id)
        if state not in ("CONNECTING", "DISCONNECTING"):
            return state
        guarded(world, "advance the clock", lambda: world.server.advance(step))
        step = min(step * 2, 1200.0)
    raise AssertionError(f"store {store_id} stays {state}")


WORKERS = {"kms": kms_worker, "cks": cks_worker, "hsms": hsm_worker, "plane": plane_worker, "store": store_worker}


def run_worker(world: World, name: str, seed: int, round_no: int) -> None:
    try:
        WORKERS[name](world, random.Random(seed), round_no)
    except ServerGone:
        return
    except Exception as error:  # anything but a connection error after the kill: recorded, the test fails on it
        with world.ledger.lock:
            world.ledger.failures.append(f"round {round_no} worker {name}: {error!r}")


# -- the checks --------------------------------------------------------------------------------------------------


def check(world: World, round_no: int, log_offset: int) -> None:
    server, ledger = world.server, world.ledger
    kms, cloudhsm = world.client("kms"), world.client("cloudhsmv2")
    log = server.log_since(log_offset)
    assert "Traceback" not in log, f"round {round_no}: a traceback at start:\n{log}"

    # 2. keys and aliases
    s2_connected = settle_store(world, kms, world.s2) == "CONNECTED"
    for key_id in sorted(ledger.kms_keys):
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        expected = "Enabled" if key_id != world.s2_key or s2_connected else "Unavailable"  # as in AWS
        assert meta["KeyState"] == expected, (round_no, meta)
    aliases = {a["AliasName"]: a.get("TargetKeyId", "") for a in
               kms.get_paginator("list_aliases").paginate().build_full_result()["Aliases"]}
    for name, targets in sorted(ledger.aliases.items()):
        assert aliases.get(name, "") in targets, (round_no, name, aliases.get(name), targets)
        if name in aliases:  # what a request in flight left is now known
            ledger.aliases[name] = {aliases[name]}
        else:
            del ledger.aliases[name]

    # 3. ciphertexts (S1's through cluster A's HSMs)
    assert settle_store(world, kms, world.s1) == "CONNECTED", round_no
    for key_id, blob, plaintext in ledger.ciphertexts:
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext, (round_no, key_id)

    # 4. clusters; the extra HSMs of A as acknowledged
    states_a = hsm_states(cloudhsm, world.cluster_a)
    assert ledger.hsms_present - ledger.hsms_unsure <= set(states_a), (round_no, states_a, ledger.hsms_present)
    assert not (ledger.hsms_deleted - ledger.hsms_unsure) & set(states_a), (round_no, states_a)
    for cluster in (world.cluster_a, world.cluster_b):
        states = hsm_states(cloudhsm, cluster)
        assert set(states.values()) <= {"ACTIVE", "DEGRADED"}, (round_no, cluster, states)
        assert "ACTIVE" in states.values(), (round_no, cluster, states)
        usable(world, cloudhsm, cluster)  # its key generation runs the drift repair first (see below)
        objects = clone_objects(server.data_dir, [h for h, state in states.items() if state == "ACTIVE"])
        assert len(set(objects.values())) == 1, f"round {round_no}: the ACTIVE HSMs of {cluster} differ: {objects}"
    # the workload's view of A's extra HSMs for the next round: what exists now
    with ledger.lock:
        ledger.hsms_present = set(hsm_states(cloudhsm, world.cluster_a)) - world.base_hsms[world.cluster_a]
        ledger.hsms_unsure.clear()

    # 5. data-plane keys
    listed = key_list(world, world.cluster_a)
    missing = ledger.plane_keys - listed
    assert not missing, f"round {round_no}: acknowledged data-plane keys not listed: {sorted(missing)}"

    # 6. stores
    s2 = settle_store(world, kms, world.s2)
    assert s2 in ledger.s2_states, f"round {round_no}: S2 is {s2}, acknowledged {sorted(ledger.s2_states)}"
    if s2 == "CONNECTED":
        kms.disconnect_custom_key_store(CustomKeyStoreId=world.s2)
        assert settle_store(world, kms, world.s2) == "DISCONNECTED", round_no
    kms.connect_custom_key_store(CustomKeyStoreId=world.s2)
    assert settle_store(world, kms, world.s2) == "CONNECTED", round_no
    for blob, plaintext in ledger.s2_ciphertexts:
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext, round_no
    ledger.s2_states = {"CONNECTED"}


def hsm_states(cloudhsm: Any, cluster: str) -> dict[str, str]:
    return {h["HsmId"]: h["State"] for h in describe(cloudhsm, cluster)["Hsms"]}


def clone_objects(data_dir: Path, hsm_ids: list[str]) -> dict[str, frozenset[str]]:
    """HSM id -> the object files of its token (read from the idle server's data dir; a token's label is its HSM
    id)."""
    found: dict[str, frozenset[str]] = {}
    for _serial, path in tf.list_token_dirs(data_dir / "tokens"):
        label = (tf.read_object(path / tf.TOKEN_OBJECT).get_bytes(tf.CKA_OS_TOKENLABEL) or b"").decode().strip()
        if label in hsm_ids:
            found[label] = frozenset(tf.object_names(path))
    assert sorted(found) == sorted(hsm_ids), (found, hsm_ids)
    return found


def key_list(world: World, cluster: str) -> set[str]:
    data = plane_call(world, cluster, "key list", "GET", "/keys", None, appuser_token(world, cluster))
    return {k["key-reference"] for k in data.get("data", data)["matched_keys"]}


def usable(world: World, cloudhsm: Any, cluster: str) -> None:
    """A key generated through the data plane and listed; a CreateHsm that gives an ACTIVE HSM (deleted again)."""
    token = appuser_token(world, cluster)
    data = plane_call(world, cluster, "generate-symmetric", "POST", "/keys/generate-symmetric",
                      {"key_type": "aes", "label": "check", "key_length_bytes": 32}, token)
    assert data.get("data", data)["key"]["key-reference"] in key_list(world, cluster)
    hsm_id = cloudhsm.create_hsm(ClusterId=cluster, AvailabilityZone=EXTRA_ZONE)["Hsm"]["HsmId"]
    assert hsm_states(cloudhsm, cluster)[hsm_id] == "ACTIVE"
    cloudhsm.delete_hsm(ClusterId=cluster, HsmId=hsm_id)
    assert hsm_id not in hsm_states(cloudhsm, cluster)


def kill_during_start(server: ServerProcess, delay: float) -> bool:
    """Start the server and SIGKILL it ``delay`` seconds after its launch, whether or not it is ready by then; True
    if the kill came before it answered (a start cut short: repair and reconciliation must survive that too)."""
    old, errors = server.process, []

    def starter() -> None:
        try:
            server.start()
        except ServerStartError as error:
            errors.append(error)

    thread = threading.Thread(target=starter, name="soak-start", daemon=True)
    thread.start()
    launched = threading.Event()
    for _ in range(1000):  # until start() has launched the new process (bounded)
        if server.process is not old or not thread.is_alive():
            break
        launched.wait(0.005)
    assert server.process is not old, "the server was not launched"
    launched.wait(delay)
    server.process.kill()
    thread.join(timeout=120)
    assert not thread.is_alive(), "start() did not return after the kill"
    server.process.wait(timeout=30)
    assert all("status -9" in str(e) for e in errors), errors  # only the kill stopped it
    return bool(errors)


# -- the test ----------------------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", args=["--max-clusters", "10", "--max-hsms", "20"])
    yield process.start()
    process.stop()


def make_world(server: ServerProcess) -> World:
    s1, cluster_a = connected_store(server, "s1")
    s2, cluster_b = connected_store(server, "s2")
    for cluster in (cluster_a, cluster_b):
        DataPlane(server.url, cluster).create_users(ADMIN, APPUSER)
    kms = server.client("kms")
    s2_key = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s2)["KeyMetadata"]["KeyId"]
    cloudhsm = server.client("cloudhsmv2")
    base = {cluster: set(hsm_states(cloudhsm, cluster)) for cluster in (cluster_a, cluster_b)}
    world = World(server, cluster_a, cluster_b, s1, s2, s2_key, base)
    world.ledger.kms_keys.add(s2_key)
    return world


def test_kill9_under_load_keeps_every_acknowledged_write(server: ServerProcess):
    world = make_world(server)
    rng = random.Random(SEED)
    starts = {"killed": 0}
    for round_no in range(ROUNDS):
        window = rng.uniform(*WINDOW_S)
        world.killed.clear()
        threads = [threading.Thread(target=run_worker, args=(world, name, rng.randrange(2**32), round_no),
                                    name=f"soak-{name}", daemon=True) for name in WORKERS]
        for thread in threads:
            thread.start()
        stopped = threading.Event()
        stopped.wait(window)  # the workload window (no assertion on time)
        world.killed.set()
        assert server.process is not None
        server.process.kill()
        server.process.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), f"worker {thread.name} did not stop after the kill"
        assert world.ledger.failures == [], world.ledger.failures
        offset = server.log_offset()
        starts["killed"] += kill_during_start(server, rng.uniform(*START_KILL_S))
        server.start()
        check(world, round_no, offset)
    ops = world.ledger.ops
    print(f"soak: {ROUNDS} rounds, {starts['killed']} starts killed before ready, acknowledged operations "
          f"{dict(sorted(ops.items()))}")
    # the workload reached every path (not a time bound: a count of what was acknowledged over all rounds)
    for prefix in ("kms.create", "kms.encrypt", "cks.create", "cks.encrypt", "hsms.create", "hsms.delete",
                   "plane.generate", "store.connected", "store.disconnected"):
        assert ops.get(prefix, 0) > 0, (prefix, ops)
