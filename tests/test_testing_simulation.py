"""hsmsim.testing without pytest fixtures: the simulator() context manager, accounts, clusters restored from the
template backup, the server's start-up errors, and ``hsmsim serve --default-account``."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from hsmsim.testing import ServerProcess, ServerStartError, Simulation, simulator
from hsmsim.testing.server import check_softhsm


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    with simulator(data_dir=tmp_path_factory.mktemp("simulation") / "data") as sim:
        yield sim


def test_the_context_manager_starts_and_stops_a_server(tmp_path: Path) -> None:
    with simulator(data_dir=tmp_path / "data", delays="fast") as sim:
        assert sim.server is not None
        status, health = sim.control("GET", "/_hsmsim/health")
        assert status == 200 and health["delays"] == "fast"
        process = sim.server.process
    assert process is not None and process.returncode is not None


def test_a_connected_store_and_a_key_in_it(simulation: Simulation) -> None:
    account = simulation.account()
    store = account.custom_key_store()
    key = account.kms_key(store=store)
    blob = account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"data")["CiphertextBlob"]
    assert account.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"data"
    assert store.cluster.source_backup_id is not None  # restored from the template's backup


def test_accounts_see_only_their_own_and_related_clusters_back_stores_in_different_accounts(
        simulation: Simulation) -> None:
    first, second = simulation.account(), simulation.account()
    a, b = first.custom_key_store(), second.custom_key_store()
    # both clusters were restored from the one template backup: they share a backup history, which KMS refuses
    # only within one account ("associated with a custom key store in the account")
    assert a.cluster.source_backup_id == b.cluster.source_backup_id
    for account, store in ((first, a), (second, b)):
        assert [c["ClusterId"] for c in account.cloudhsmv2.describe_clusters()["Clusters"]] == [store.cluster.cluster_id]
        stores = account.kms.describe_custom_key_stores()["CustomKeyStores"]
        assert [(s["CustomKeyStoreId"], s["ConnectionState"]) for s in stores] == [(store.custom_key_store_id,
                                                                                     "CONNECTED")]


def test_a_second_related_cluster_in_one_account_is_refused_by_kms(simulation: Simulation) -> None:
    account = simulation.account()
    store = account.custom_key_store()
    related = account.cluster(2, from_backup=True)
    with pytest.raises(account.kms.exceptions.CloudHsmClusterInUseException, match="shares a backup history"):
        account.custom_key_store(related)
    unrelated = account.cluster(2)  # an account's later clusters are made from scratch
    assert unrelated.source_backup_id is None and unrelated.trust_anchor_pem != store.cluster.trust_anchor_pem
    assert account.custom_key_store(unrelated).cluster is unrelated


def test_a_template_backup_is_shared_with_the_restoring_account_only(simulation: Simulation) -> None:
    account = simulation.account()
    cluster = account.cluster(1)
    template, owner = simulation.template()
    policy = owner.cloudhsm.get_resource_policy(ResourceArn=template.backup_arn)["Policy"]
    assert f"arn:aws:iam::{account.account_id}:root" in policy
    shared = account.cloudhsmv2.describe_backups(Shared=True)["Backups"]
    assert [b["BackupArn"] for b in shared] == [template.backup_arn]
    assert cluster.source_backup_id == template.backup_arn.rsplit("/", 1)[1]
    other = simulation.account()
    assert other.cloudhsmv2.describe_backups(Shared=True)["Backups"] == []


def test_hsm_session_as_the_crypto_user(simulation: Simulation) -> None:
    # In a process of its own: hsmsim.connect loads SoftHSM, which this test process may hold already (the
    # in-process HSM tests), and one process loads it over one token directory only.
    script = f"""
from hsmsim.testing import simulator
with simulator({simulation.endpoint!r}) as sim:
    account = sim.account()
    cluster = account.cluster(2)
    with account.hsm_session(cluster) as session:
        assert session.user == "appuser" and session.cluster_id == cluster.cluster_id
        print("session", session.cluster_id)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("session cluster-"), result.stdout + result.stderr


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"port {port} is already in use on 127.0.0.1"):
            ServerProcess(tmp_path / "data", port=port).start()


def test_missing_softhsm_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"apt-get install softhsm2.*/nowhere/libsofthsm2\.so"):
        check_softhsm("/nowhere/libsofthsm2.so")


def test_a_server_that_exits_at_once_reports_its_log(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=["--delays", "sluggish"])
    with pytest.raises(ServerStartError, match=r"(?s)exited with status 2.*refused.*argument --delays: invalid DelayProfile value: 'sluggish'"):
        server.start()


def test_serve_default_account_is_validated_and_used(tmp_path: Path) -> None:
    refused = subprocess.run([sys.executable, "-m", "hsmsim", "serve", "--default-account", "12345"],
                             check=False, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "an AWS account id is 12 digits, not '12345'" in refused.stderr
    with simulator(data_dir=tmp_path / "data", default_account="123456789012") as sim:
        assert sim.control("GET", "/_hsmsim/health")[1]["default_account"] == "123456789012"
        moto_style = boto3.client("kms", endpoint_url=sim.endpoint, region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")  # moto's habit
        arn = moto_style.create_key()["KeyMetadata"]["Arn"]
        assert arn.startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_release_hsms_deletes_the_accounts_tokens(simulation: Simulation) -> None:
    assert simulation.server is not None
    simulation.template()  # made on first use: its two HSMs stay
    before = set(simulation.server.tokens())
    account = simulation.account()
    store = account.custom_key_store()
    assert len(set(simulation.server.tokens()) - before) == 2
    assert account.release_hsms() == 2
    # DeleteHsm is asynchronous (done by the next request under --delays instant)
    assert account.cloudhsmv2.describe_clusters()["Clusters"][0]["Hsms"] == []
    assert set(simulation.server.tokens()) <= before
    view = account.kms.describe_custom_key_stores(CustomKeyStoreId=store.custom_key_store_id)["CustomKeyStores"][0]
    assert view["ConnectionState"] == "DISCONNECTED"
