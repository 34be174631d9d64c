"""State survives a server restart on the same data dir, and start-up reconciliation repairs a crash.

Each test runs its own server (``ServerProcess``) on its own data dir, stops or kills it, and starts a new one
on the same data dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ServerProcess
from helpers import SUBNETS, active_cluster, describe, new_cluster

from hsmsim.hsm import tokenfiles as tf

DAY = 24 * 3600
OTHER_ACCOUNT = "444455556666"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test only (it shadows the session-wide one)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    process = ServerProcess(data_dir).start()
    yield process
    process.stop()


def restarted(server: ServerProcess, kill: bool = False) -> ServerProcess:
    assert server.process is not None
    if kill:
        server.process.kill()  # SIGKILL: no shutdown, no cleanup
        server.process.wait(timeout=30)
    else:
        server.stop()
    assert server.process.returncode is not None
    return server.start()


def clock(server: ServerProcess) -> datetime:
    status, body = server.control("GET", "/_hsmsim/clock")
    assert status == 200, body
    return datetime.fromtimestamp(body["epoch_seconds"], UTC)


def token_serials(server: ServerProcess) -> dict[str, str]:
    """label -> serial of every initialised token, read with softhsm2-util (whose "Serial number" line comes
    before the "Label" line of the same token)."""
    env = dict(os.environ, SOFTHSM2_CONF=str(server.data_dir / "softhsm2.conf"))
    out = subprocess.run(["softhsm2-util", "--show-slots"], env=env, capture_output=True, text=True, check=True)
    found: dict[str, str] = {}
    serial = None
    for line in out.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Serial number":
            serial = value.strip()
        elif key == "Label" and serial:
            found[value.strip()] = serial
            serial = None
    return found


def token_dir(server: ServerProcess, serial: str) -> Path:
    (path,) = [p for s, p in tf.list_token_dirs(server.data_dir / "tokens") if s == serial]
    return path


def all_backups(client: Any) -> list[dict[str, Any]]:
    return client.describe_backups(SortAscending=True)["Backups"]


def state(client: Any) -> dict[str, Any]:
    """Everything the API shows about the account's clusters, HSMs, backups and tags."""
    clusters = client.describe_clusters()["Clusters"]
    backups = all_backups(client)
    return {
        "clusters": clusters,
        "backups": backups,
        "tags": {r: client.list_tags(ResourceId=r)["TagList"] for r in
                 [c["ClusterId"] for c in clusters] + [b["BackupId"] for b in backups]},
        "policies": {b["BackupId"]: client.get_resource_policy(ResourceArn=b["BackupArn"]).get("Policy")
                     for b in backups if b["BackupState"] == "READY"},
    }


def test_state_survives_a_restart(server):
    client = server.client("cloudhsmv2")
    west = server.client("cloudhsmv2", region="us-west-2")
    active_id, first = active_cluster(server, client)
    second = client.create_hsm(ClusterId=active_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    pending_id = new_cluster(client, TagList=[{"Key": "stage", "Value": "uninitialized"}])
    csr_hsm = client.create_hsm(ClusterId=pending_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    client.tag_resource(ResourceId=active_id, TagList=[{"Key": "env", "Value": "prod"}])
    activation, added = all_backups(client)
    client.tag_resource(ResourceId=added["BackupId"], TagList=[{"Key": "keep", "Value": "yes"}])
    client.modify_backup_attributes(BackupId=added["BackupId"], NeverExpires=True)
    client.put_resource_policy(
        ResourceArn=added["BackupArn"],
        Policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": '
        f'"arn:aws:iam::{OTHER_ACCOUNT}:root"}}, "Action": "cloudhsm:CreateCluster", "Resource": "*"}}]}}',
    )
    client.copy_backup_to_region(DestinationRegion="us-west-2", BackupId=added["BackupId"])
    client.delete_backup(BackupId=activation["BackupId"])
    server.advance(2 * DAY + 60)  # two daily backups, and simulated time well ahead of the wall clock

    before = state(client)
    assert [b["BackupState"] for b in before["backups"]] == ["PENDING_DELETION", "READY", "READY", "READY"]
    west_before = all_backups(west)
    assert len(west_before) == 1
    tokens_before = server.tokens()
    serials_before = token_serials(server)
    assert {first, second, csr_hsm} <= set(serials_before)
    now_before = clock(server)

    restarted(server)

    assert clock(server) >= now_before
    assert state(client) == before
    assert all_backups(west) == west_before
    assert server.tokens() == tokens_before
    assert token_serials(server) == serials_before
    assert {h["HsmId"]: h["State"] for h in describe(client, active_id)["Hsms"]} == {first: "ACTIVE", second: "ACTIVE"}
    assert describe(client, pending_id)["Certificates"]["ClusterCsr"].startswith("-----BEGIN CERTIFICATE REQUEST")

    # Due times survive too: the deleted backup still leaves after its seven days, the daily backup goes on.
    server.advance(5 * DAY)
    after = all_backups(client)
    assert activation["BackupId"] not in [b["BackupId"] for b in after]
    assert len(after) == 3 + 5

    # The HSMs and backups still work: a new HSM (backup + restore) and a cluster restored from an old backup.
    third = client.create_hsm(ClusterId=active_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    assert {h["HsmId"]: h["State"] for h in describe(client, active_id)["Hsms"]} == {
        first: "ACTIVE", second: "ACTIVE", third: "ACTIVE"
    }
    restored_id = client.create_cluster(
        HsmType="hsm1.medium", SubnetIds=SUBNETS[:2], SourceBackupId=added["BackupId"]
    )["Cluster"]["ClusterId"]
    assert describe(client, restored_id)["State"] == "ACTIVE"
    restored_hsm = client.create_hsm(ClusterId=restored_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    assert describe(client, restored_id)["Hsms"][0]["State"] == "ACTIVE"
    assert {third, restored_hsm} <= set(token_serials(server))


def test_tokens_and_files_survive_a_second_restart_after_changes(server):
    client = server.client("cloudhsmv2")
    cluster_id, first = active_cluster(server, client)
    restarted(server)
    second = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    client.delete_hsm(ClusterId=cluster_id, HsmId=first)
    assert [h["HsmId"] for h in describe(client, cluster_id)["Hsms"]] == [second]
    serials = token_serials(server)
    assert second in serials and first not in serials
    backups = all_backups(client)
    assert len(backups) == 3
    restarted(server)
    assert token_serials(server) == serials
    assert all_backups(client) == backups
    assert sorted(p.name for p in (server.data_dir / "backups").iterdir()) == sorted(b["BackupId"] for b in backups)


def test_reconciliation_after_a_crash(server):
    client = server.client("cloudhsmv2")
    cluster_id, first = active_cluster(server, client)
    second = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    activation, added = all_backups(client)
    serials = token_serials(server)
    assert server.process is not None
    server.process.kill()
    server.process.wait(timeout=30)

    tokens = server.data_dir / "tokens"
    backups = server.data_dir / "backups"
    # 1. An HSM loses its token.
    shutil.rmtree(token_dir(server, serials[second]))
    # 2. A token no HSM refers to: a copy of the first HSM's token under a new serial.
    image = tf.load_image(token_dir(server, serials[first]))
    taken = {tf.slot_id_of(s) for s, _ in tf.list_token_dirs(tokens)}
    name, stray_serial = tf.new_token_dirname(taken)
    image.token_object.set_bytes(tf.CKA_OS_TOKENSERIAL, stray_serial.encode())
    image.token_object.set_bytes(tf.CKA_OS_TOKENLABEL, tf.encode_label("stray-token"))
    tf.write_image(image, tokens / name)
    assert token_serials(server)["stray-token"] == stray_serial
    # 3. A backup loses its snapshot; 4. a snapshot without a backup row; 5. a half-written snapshot.
    shutil.rmtree(backups / added["BackupId"])
    shutil.copytree(backups / activation["BackupId"], backups / "backup-strayabcdefg")
    shutil.copytree(backups / activation["BackupId"], backups / "backup-halfwrittenab.partial")

    server.start()

    hsms = {h["HsmId"]: h for h in describe(client, cluster_id)["Hsms"]}
    assert hsms[first]["State"] == "ACTIVE"
    assert hsms[second]["State"] == "DEGRADED"
    assert hsms[second]["StateMessage"] == "HSM creation failed. Please delete this HSM and try again."
    after = token_serials(server)
    assert "stray-token" not in after
    assert not (tokens / name).exists()
    assert after[first] == serials[first]
    assert [b["BackupId"] for b in all_backups(client)] == [activation["BackupId"]]
    assert sorted(p.name for p in backups.iterdir()) == [activation["BackupId"]]
    with pytest.raises(ClientError) as exc:
        client.restore_backup(BackupId=added["BackupId"])
    assert exc.value.response["Error"]["Code"] == "CloudHsmResourceNotFoundException"

    # The cluster recovers: the degraded HSM can be deleted, and a new one restores from a backup.
    assert describe(client, cluster_id)["State"] == "ACTIVE"
    client.delete_hsm(ClusterId=cluster_id, HsmId=second)
    assert [h["HsmId"] for h in describe(client, cluster_id)["Hsms"]] == [first]
    third = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    assert {h["HsmId"]: h["State"] for h in describe(client, cluster_id)["Hsms"]} == {
        first: "ACTIVE", third: "ACTIVE"
    }
    assert set(token_serials(server)) >= {first, third}

    # And it all holds after an orderly restart.
    serials = token_serials(server)
    restarted(server)
    assert token_serials(server) == serials
    # Reconciliation warns about what it repaired; nothing after it is an error.
    log = (server.data_dir.parent / f"{server.data_dir.name}-server.log").read_text()
    assert "lost its token" in log and "marking it DEGRADED" in log
    assert [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line] == []


def test_a_crash_without_damage_changes_nothing(server):
    client = server.client("cloudhsmv2")
    cluster_id, first = active_cluster(server, client)
    client.tag_resource(ResourceId=cluster_id, TagList=[{"Key": "env", "Value": "dev"}])
    before = state(client)
    serials = token_serials(server)
    now_before = clock(server)
    restarted(server, kill=True)
    assert clock(server) >= now_before
    assert state(client) == before
    assert token_serials(server) == serials
