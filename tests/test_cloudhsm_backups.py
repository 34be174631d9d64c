"""Backups end to end (spec 1.8, 1.9): when they are taken, DescribeBackups, delete/restore, retention,
copies to another region, clusters restored from a backup, and resource policies.

boto3 against the real server; the instant delay profile applies a transition at the next request, and the
simulated clock (``sim.advance``) drives the seven-day deletion window, daily backups and retention.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ServerProcess
from helpers import SUBNETS, CustomerCA, active_cluster, describe

DAY = 24 * 3600
OTHER_ACCOUNT = "444455556666"
TIMESTAMP_PRECISION = timedelta(milliseconds=1)  # the wire keeps milliseconds


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def sim_now(sim: Any) -> datetime:
    status, body = sim.control("GET", "/_hsmsim/clock")
    assert status == 200, body
    return datetime.fromtimestamp(body["epoch_seconds"], UTC)


def backups(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return client.describe_backups(**kwargs)["Backups"]


def cluster_backups(client: Any, cluster_id: str) -> list[dict[str, Any]]:
    return backups(client, Filters={"clusterIds": [cluster_id]}, SortAscending=True)


def backup(client: Any, backup_id: str) -> dict[str, Any] | None:
    found = backups(client, Filters={"backupIds": [backup_id]})
    assert len(found) <= 1
    return found[0] if found else None


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [b["BackupId"] for b in items]


def hsm_states(client: Any, cluster_id: str) -> dict[str, str]:
    return {h["HsmId"]: h["State"] for h in describe(client, cluster_id)["Hsms"]}


def restored_cluster(client: Any, source_backup_id: str, subnets: list[str] | None = None) -> str:
    cluster = client.create_cluster(
        HsmType="hsm1.medium", SubnetIds=subnets or SUBNETS[:2], SourceBackupId=source_backup_id
    )["Cluster"]
    assert cluster["State"] == "CREATE_IN_PROGRESS"
    return cluster["ClusterId"]


def policy_for(account: str, backup_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["cloudhsm:CreateCluster", "cloudhsm:DescribeBackups"],
                    "Resource": backup_arn,
                }
            ],
        }
    )


# -- when backups are taken ----------------------------------------------------------------------------------


def test_activation_takes_a_backup_that_is_ready(sim, cloudhsm):
    before = sim_now(sim)
    cluster_id, _ = active_cluster(sim, cloudhsm)
    found = cluster_backups(cloudhsm, cluster_id)
    assert len(found) == 1
    b = found[0]
    assert b["BackupState"] == "READY"
    assert b["ClusterId"] == cluster_id
    assert b["BackupArn"] == f"arn:aws:cloudhsm:us-east-1:111122223333:backup/{b['BackupId']}"
    assert (b["HsmType"], b["Mode"], b["NeverExpires"]) == ("hsm1.medium", "FIPS", False)
    assert "DeleteTimestamp" not in b and "SourceBackup" not in b
    assert before - TIMESTAMP_PRECISION <= b["CreateTimestamp"] <= sim_now(sim)
    assert (sim.data_dir / "backups" / b["BackupId"] / "token").is_dir()


def test_adding_an_hsm_to_an_active_cluster_takes_a_backup_and_a_token(sim, cloudhsm):
    cluster_id, first = active_cluster(sim, cloudhsm)
    before = ids(cluster_backups(cloudhsm, cluster_id))
    hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]
    assert hsm["State"] == "CREATE_IN_PROGRESS"
    assert hsm["HsmId"] in sim.tokens()
    after = cluster_backups(cloudhsm, cluster_id)
    assert len(after) == len(before) + 1
    new = [b for b in after if b["BackupId"] not in before]
    assert len(new) == 1 and new[0]["BackupState"] == "READY" and new[0]["ClusterId"] == cluster_id
    assert hsm_states(cloudhsm, cluster_id) == {first: "ACTIVE", hsm["HsmId"]: "ACTIVE"}
    assert {first, hsm["HsmId"]} <= set(sim.tokens())


def test_deleting_an_hsm_from_an_active_cluster_takes_a_backup_and_removes_the_token(sim, cloudhsm):
    cluster_id, first = active_cluster(sim, cloudhsm)
    second = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    assert hsm_states(cloudhsm, cluster_id) == {first: "ACTIVE", second: "ACTIVE"}
    before = ids(cluster_backups(cloudhsm, cluster_id))
    assert cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=second)["HsmId"] == second
    after = cluster_backups(cloudhsm, cluster_id)
    assert len(after) == len(before) + 1
    assert all(b["BackupState"] == "READY" for b in after)
    cluster = describe(cloudhsm, cluster_id)
    assert [h["HsmId"] for h in cluster["Hsms"]] == [first]
    assert cluster["State"] == "ACTIVE"
    tokens = sim.tokens()
    assert second not in tokens
    assert first in tokens


# -- DescribeBackups -----------------------------------------------------------------------------------------


def test_describe_backups_filters(sim, cloudhsm):
    cluster_a, _ = active_cluster(sim, cloudhsm)
    cloudhsm.create_hsm(ClusterId=cluster_a, AvailabilityZone="us-east-1b")
    a1, a2 = ids(cluster_backups(cloudhsm, cluster_a))
    cluster_b, _ = active_cluster(sim, cloudhsm)
    (b1,) = ids(cluster_backups(cloudhsm, cluster_b))

    assert set(ids(backups(cloudhsm))) == {a1, a2, b1}
    assert ids(backups(cloudhsm, Filters={"backupIds": [a2]})) == [a2]
    assert set(ids(backups(cloudhsm, Filters={"backupIds": [a1, b1]}))) == {a1, b1}
    assert ids(backups(cloudhsm, Filters={"clusterIds": [cluster_b]})) == [b1]
    assert set(ids(backups(cloudhsm, Filters={"clusterIds": [cluster_a]}))) == {a1, a2}
    assert ids(backups(cloudhsm, Filters={"clusterIds": [cluster_a], "backupIds": [b1]})) == []
    assert set(ids(backups(cloudhsm, Filters={"states": ["READY"]}))) == {a1, a2, b1}
    assert ids(backups(cloudhsm, Filters={"sourceBackupIds": [a1]})) == []  # no copies in this region

    cloudhsm.delete_backup(BackupId=a1)
    assert ids(backups(cloudhsm, Filters={"states": ["PENDING_DELETION"]})) == [a1]
    assert set(ids(backups(cloudhsm, Filters={"states": ["READY"]}))) == {a2, b1}
    assert set(ids(backups(cloudhsm, Filters={"states": ["READY", "PENDING_DELETION"]}))) == {a1, a2, b1}

    cloudhsm.modify_backup_attributes(BackupId=b1, NeverExpires=True)
    assert ids(backups(cloudhsm, Filters={"neverExpires": ["true"]})) == [b1]
    assert set(ids(backups(cloudhsm, Filters={"neverExpires": ["false"]}))) == {a1, a2}


def test_describe_backups_rejects_unknown_filters_and_states(sim, cloudhsm):
    active_cluster(sim, cloudhsm)
    with pytest.raises(ClientError) as exc:
        cloudhsm.describe_backups(Filters={"backupStates": ["READY"]})
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "backupStates" in message
    with pytest.raises(ClientError) as exc:
        cloudhsm.describe_backups(Filters={"states": ["RUNNING"]})
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "RUNNING" in message
    with pytest.raises(ClientError) as exc:
        cloudhsm.describe_backups(Filters={"neverExpires": ["maybe"]})
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "maybe" in message


def test_describe_backups_sorting_and_pagination(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    sim.advance(4 * DAY + 60)  # four daily backups
    ascending = backups(cloudhsm, SortAscending=True)
    assert len(ascending) == 5
    stamps = [b["CreateTimestamp"] for b in ascending]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert ids(backups(cloudhsm, SortAscending=False)) == list(reversed(ids(ascending)))

    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": 2, "SortAscending": True}
        if token:
            kwargs["NextToken"] = token
        response = cloudhsm.describe_backups(**kwargs)
        pages.append(ids(response["Backups"]))
        token = response.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == ids(ascending)

    with pytest.raises(ClientError) as exc:
        cloudhsm.describe_backups(NextToken="not-a-token", MaxResults=2)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "NextToken" in message


# -- DeleteBackup, RestoreBackup and the seven days ---------------------------------------------------------


def test_delete_backup_pending_deletion_restore_and_purge(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    first, second = ids(cluster_backups(cloudhsm, cluster_id))

    before = sim_now(sim)
    deleted = cloudhsm.delete_backup(BackupId=first)["Backup"]
    after = sim_now(sim)
    assert deleted["BackupId"] == first
    assert deleted["BackupState"] == "PENDING_DELETION"
    assert before + timedelta(days=7) - TIMESTAMP_PRECISION <= deleted["DeleteTimestamp"]
    assert deleted["DeleteTimestamp"] <= after + timedelta(days=7)
    assert backup(cloudhsm, first)["BackupState"] == "PENDING_DELETION"

    restored = cloudhsm.restore_backup(BackupId=first)["Backup"]
    assert restored["BackupState"] == "READY"
    assert "DeleteTimestamp" not in restored
    assert backup(cloudhsm, first)["BackupState"] == "READY"

    cloudhsm.delete_backup(BackupId=first)
    sim.advance(7 * DAY - 3600)
    assert backup(cloudhsm, first)["BackupState"] == "PENDING_DELETION"  # still restorable
    sim.advance(3600 + 60)
    assert backup(cloudhsm, first) is None
    assert not (sim.data_dir / "backups" / first).exists()
    assert backup(cloudhsm, second)["BackupState"] == "READY"
    with pytest.raises(ClientError) as exc:
        cloudhsm.restore_backup(BackupId=first)
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert first in message


def test_delete_backup_only_when_ready_and_restore_only_when_pending_deletion(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (backup_id,) = ids(cluster_backups(cloudhsm, cluster_id))
    with pytest.raises(ClientError) as exc:
        cloudhsm.restore_backup(BackupId=backup_id)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "READY" in message and backup_id in message

    cloudhsm.delete_backup(BackupId=backup_id)
    with pytest.raises(ClientError) as exc:
        cloudhsm.delete_backup(BackupId=backup_id)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "PENDING_DELETION" in message and backup_id in message

    with pytest.raises(ClientError) as exc:
        cloudhsm.delete_backup(BackupId="backup-abcdefghijk")
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert "backup-abcdefghijk" in message


# -- daily backups and retention -----------------------------------------------------------------------------


def test_daily_backup_every_24_hours(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    assert len(cluster_backups(cloudhsm, cluster_id)) == 1
    sim.advance(23 * 3600)
    assert len(cluster_backups(cloudhsm, cluster_id)) == 1
    sim.advance(3600 + 60)
    found = cluster_backups(cloudhsm, cluster_id)
    assert len(found) == 2
    assert all(b["BackupState"] == "READY" for b in found)
    gap = found[1]["CreateTimestamp"] - found[0]["CreateTimestamp"]
    assert abs(gap - timedelta(hours=24)) <= TIMESTAMP_PRECISION
    sim.advance(DAY)
    assert len(cluster_backups(cloudhsm, cluster_id)) == 3


def test_retention_deletes_old_backups(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    modified = cloudhsm.modify_cluster(ClusterId=cluster_id, BackupRetentionPolicy={"Type": "DAYS", "Value": "7"})
    assert modified["Cluster"]["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "7"}
    (first,) = ids(cluster_backups(cloudhsm, cluster_id))
    sim.advance(7 * DAY - 3600)
    found = ids(cluster_backups(cloudhsm, cluster_id))
    assert first in found and len(found) == 7  # activation + six daily backups
    sim.advance(2 * 3600)
    found = ids(cluster_backups(cloudhsm, cluster_id))
    assert first not in found
    assert len(found) == 7  # seven daily backups, the first one expired
    assert not (sim.data_dir / "backups" / first).exists()


def test_retention_never_deletes_the_last_backup_and_a_later_hsm_restores_it(sim, cloudhsm):
    cluster_id, hsm_id = active_cluster(sim, cloudhsm)
    cloudhsm.modify_cluster(ClusterId=cluster_id, BackupRetentionPolicy={"Type": "DAYS", "Value": "7"})
    (activation,) = ids(cluster_backups(cloudhsm, cluster_id))
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm_id)  # the last HSM: a backup, cluster stays ACTIVE
    cluster = describe(cloudhsm, cluster_id)
    assert (cluster["State"], cluster["Hsms"]) == ("ACTIVE", [])
    assert hsm_id not in sim.tokens()
    found = ids(cluster_backups(cloudhsm, cluster_id))
    assert len(found) == 2
    last = found[1]

    sim.advance(30 * DAY)  # no HSM: no daily backups; retention expires both, but the last one stays
    assert ids(cluster_backups(cloudhsm, cluster_id)) == [last]
    assert backup(cloudhsm, last)["BackupState"] == "READY"
    assert backup(cloudhsm, activation) is None
    assert describe(cloudhsm, cluster_id)["State"] == "ACTIVE"

    hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]
    assert hsm_states(cloudhsm, cluster_id) == {hsm["HsmId"]: "ACTIVE"}
    assert hsm["HsmId"] in sim.tokens()
    assert ids(cluster_backups(cloudhsm, cluster_id)) == [last]  # restored, not backed up (nothing to back up)


def test_never_expires_exempts_a_backup_from_retention(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    cloudhsm.modify_cluster(ClusterId=cluster_id, BackupRetentionPolicy={"Type": "DAYS", "Value": "7"})
    (first,) = ids(cluster_backups(cloudhsm, cluster_id))
    kept = cloudhsm.modify_backup_attributes(BackupId=first, NeverExpires=True)["Backup"]
    assert (kept["BackupId"], kept["NeverExpires"]) == (first, True)
    sim.advance(10 * DAY)
    found = cluster_backups(cloudhsm, cluster_id)
    assert found[0]["BackupId"] == first and found[0]["NeverExpires"] is True
    assert len(found) == 1 + 7  # the exempt one + the daily backups of the last seven days
    released = cloudhsm.modify_backup_attributes(BackupId=first, NeverExpires=False)["Backup"]
    assert released["NeverExpires"] is False
    assert backup(cloudhsm, first) is None  # ten days old under a seven-day policy: gone at once


# -- CopyBackupToRegion --------------------------------------------------------------------------------------


def test_copy_backup_to_region(sim, cloudhsm):
    west = sim.client("cloudhsmv2", region="us-west-2")
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (source,) = cluster_backups(cloudhsm, cluster_id)
    cloudhsm.tag_resource(ResourceId=source["BackupId"], TagList=[{"Key": "team", "Value": "crypto"}])

    before = sim_now(sim)
    response = cloudhsm.copy_backup_to_region(DestinationRegion="us-west-2", BackupId=source["BackupId"])
    destination = response["DestinationBackup"]
    assert destination == {
        "CreateTimestamp": source["CreateTimestamp"],
        "SourceRegion": "us-east-1",
        "SourceBackup": source["BackupId"],
        "SourceCluster": cluster_id,
    }
    tagged = cloudhsm.copy_backup_to_region(
        DestinationRegion="us-west-2", BackupId=source["BackupId"], TagList=[{"Key": "copy", "Value": "2"}]
    )["DestinationBackup"]
    assert tagged["SourceBackup"] == source["BackupId"]

    copies = west.describe_backups(Filters={"sourceBackupIds": [source["BackupId"]]}, SortAscending=True)["Backups"]
    assert len(copies) == 2
    for copy in copies:
        assert copy["BackupId"] != source["BackupId"]
        assert copy["BackupState"] == "READY"
        assert copy["BackupArn"] == f"arn:aws:cloudhsm:us-west-2:111122223333:backup/{copy['BackupId']}"
        assert (copy["SourceRegion"], copy["SourceBackup"], copy["SourceCluster"]) == (
            "us-east-1",
            source["BackupId"],
            cluster_id,
        )
        assert copy["CreateTimestamp"] == source["CreateTimestamp"]
        assert copy["CopyTimestamp"] >= before - TIMESTAMP_PRECISION
        assert "ClusterId" not in copy
    assert sorted(tuple(map(tuple, (t.items() for t in c["TagList"]))) for c in copies) == sorted(
        [((("Key", "team"), ("Value", "crypto")),), ((("Key", "copy"), ("Value", "2")),)]
    )
    # The copies live in us-west-2 only.
    assert ids(backups(cloudhsm)) == [source["BackupId"]]
    assert ids(backups(west, Filters={"clusterIds": [cluster_id]})) == []

    # A copy restores a cluster in its region, with the source cluster's certificate.
    restored_id = restored_cluster(west, copies[0]["BackupId"], subnets=["subnet-0123456789abcdefa"])
    restored = describe(west, restored_id)
    assert restored["State"] == "ACTIVE"
    assert restored["Certificates"]["ClusterCertificate"] == describe(cloudhsm, cluster_id)["Certificates"][
        "ClusterCertificate"
    ]
    hsm = west.create_hsm(ClusterId=restored_id, AvailabilityZone="us-west-2a")["Hsm"]
    assert hsm_states(west, restored_id) == {hsm["HsmId"]: "ACTIVE"}
    assert hsm["HsmId"] in sim.tokens()


def test_copy_backup_errors(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (backup_id,) = ids(cluster_backups(cloudhsm, cluster_id))
    with pytest.raises(ClientError) as exc:
        cloudhsm.copy_backup_to_region(DestinationRegion="us-east-1", BackupId=backup_id)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "us-east-1" in message
    with pytest.raises(ClientError) as exc:
        cloudhsm.copy_backup_to_region(DestinationRegion="us-west-2", BackupId="backup-abcdefghijk")
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert "backup-abcdefghijk" in message
    west = sim.client("cloudhsmv2", region="us-west-2")
    assert backups(west) == []


# -- clusters from backups, and the last HSM -----------------------------------------------------------------


@pytest.mark.parametrize("by", ["id", "arn"])
def test_create_cluster_from_backup(sim, cloudhsm, by):
    source_cluster, _ = active_cluster(sim, cloudhsm)
    (source,) = cluster_backups(cloudhsm, source_cluster)
    reference = source["BackupId"] if by == "id" else source["BackupArn"]
    cluster_id = restored_cluster(cloudhsm, reference)
    cluster = describe(cloudhsm, cluster_id)
    assert cluster["State"] == "ACTIVE"
    assert cluster["Hsms"] == []
    assert cluster["SourceBackupId"] == source["BackupId"]
    certificate = describe(cloudhsm, source_cluster)["Certificates"]["ClusterCertificate"]
    assert cluster["Certificates"] == {"ClusterCertificate": certificate}

    hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]
    assert hsm["State"] == "CREATE_IN_PROGRESS"
    assert hsm_states(cloudhsm, cluster_id) == {hsm["HsmId"]: "ACTIVE"}
    assert hsm["HsmId"] in sim.tokens()
    assert describe(cloudhsm, cluster_id)["State"] == "ACTIVE"
    # Restoring onto the new HSM takes no backup (there was no HSM to back up); the next daily one does.
    assert cluster_backups(cloudhsm, cluster_id) == []
    sim.advance(DAY + 60)
    assert len(cluster_backups(cloudhsm, cluster_id)) == 1


def test_create_cluster_from_unusable_backups(sim, cloudhsm):
    source_cluster, _ = active_cluster(sim, cloudhsm)
    (backup_id,) = ids(cluster_backups(cloudhsm, source_cluster))
    cloudhsm.delete_backup(BackupId=backup_id)
    clusters_before = len(cloudhsm.describe_clusters()["Clusters"])
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2], SourceBackupId=backup_id)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "PENDING_DELETION" in message
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2], SourceBackupId="backup-abcdefghijk")
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert "backup-abcdefghijk" in message
    assert len(cloudhsm.describe_clusters()["Clusters"]) == clusters_before


def test_last_hsm_deleted_cluster_stays_active_and_new_hsm_restores_latest_backup(sim, cloudhsm):
    cluster_id, hsm_id = active_cluster(sim, cloudhsm)
    (activation,) = ids(cluster_backups(cloudhsm, cluster_id))
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm_id)
    cluster = describe(cloudhsm, cluster_id)
    assert (cluster["State"], cluster["Hsms"]) == ("ACTIVE", [])
    assert hsm_id not in sim.tokens()
    found = ids(cluster_backups(cloudhsm, cluster_id))
    assert len(found) == 2 and found[0] == activation
    latest = found[1]
    # Only the latest backup is left to restore from.
    cloudhsm.delete_backup(BackupId=activation)
    sim.advance(7 * DAY + 60)
    assert ids(cluster_backups(cloudhsm, cluster_id)) == [latest]
    assert describe(cloudhsm, cluster_id)["State"] == "ACTIVE"

    hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]
    assert hsm_states(cloudhsm, cluster_id) == {hsm["HsmId"]: "ACTIVE"}
    assert hsm["HsmId"] in sim.tokens()
    # The restored token has the objects of the backup it came from.
    tokens_dir = sim.data_dir / "backups" / latest / "token"
    backup_objects = sorted(p.name for p in tokens_dir.iterdir() if p.name.endswith(".object"))
    assert "token.object" in backup_objects and len(backup_objects) > 1
    # And the cluster goes on: adding a second HSM backs up the restored one.
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    assert len(cluster_backups(cloudhsm, cluster_id)) == 2
    assert set(hsm_states(cloudhsm, cluster_id).values()) == {"ACTIVE"}


# -- resource policies and sharing ---------------------------------------------------------------------------


def test_put_get_delete_resource_policy(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (b,) = cluster_backups(cloudhsm, cluster_id)
    arn = b["BackupArn"]
    assert cloudhsm.get_resource_policy(ResourceArn=arn).get("Policy") is None
    policy = policy_for(OTHER_ACCOUNT, arn)
    put = cloudhsm.put_resource_policy(ResourceArn=arn, Policy=policy)
    assert (put["ResourceArn"], put["Policy"]) == (arn, policy)
    assert json.loads(cloudhsm.get_resource_policy(ResourceArn=arn)["Policy"]) == json.loads(policy)
    deleted = cloudhsm.delete_resource_policy(ResourceArn=arn)
    assert (deleted["ResourceArn"], deleted["Policy"]) == (arn, policy)
    assert cloudhsm.get_resource_policy(ResourceArn=arn).get("Policy") is None


def test_resource_policy_errors(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (b,) = cluster_backups(cloudhsm, cluster_id)
    arn = b["BackupArn"]

    with pytest.raises(ClientError) as exc:
        cloudhsm.put_resource_policy(ResourceArn=arn, Policy="{not json")
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "JSON" in message

    cluster_arn = f"arn:aws:cloudhsm:us-east-1:111122223333:cluster/{cluster_id}"
    with pytest.raises(ClientError) as exc:
        cloudhsm.put_resource_policy(ResourceArn=cluster_arn, Policy=policy_for(OTHER_ACCOUNT, cluster_arn))
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "backup" in message and cluster_arn in message

    foreign = arn.replace(":111122223333:", f":{OTHER_ACCOUNT}:")
    with pytest.raises(ClientError) as exc:
        cloudhsm.put_resource_policy(ResourceArn=foreign, Policy=policy_for(OTHER_ACCOUNT, foreign))
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert foreign in message

    for call in (cloudhsm.put_resource_policy, cloudhsm.get_resource_policy, cloudhsm.delete_resource_policy):
        kwargs = {"Policy": policy_for(OTHER_ACCOUNT, arn)} if call == cloudhsm.put_resource_policy else {}
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        code, message = error_of(exc)
        assert code == "CloudHsmInvalidRequestException"
        assert "ResourceArn" in message

    assert cloudhsm.get_resource_policy(ResourceArn=arn).get("Policy") is None  # nothing was put


def test_backup_shared_by_policy_with_another_account(sim, cloudhsm):
    other = sim.client("cloudhsmv2", account=OTHER_ACCOUNT)
    shared_cluster, _ = active_cluster(sim, cloudhsm)
    (shared,) = cluster_backups(cloudhsm, shared_cluster)
    private_cluster, _ = active_cluster(sim, cloudhsm)
    (private,) = cluster_backups(cloudhsm, private_cluster)
    cloudhsm.put_resource_policy(ResourceArn=shared["BackupArn"], Policy=policy_for(OTHER_ACCOUNT, shared["BackupArn"]))

    assert backups(other) == []  # B owns no backups
    listed = backups(other, Shared=True)
    assert ids(listed) == [shared["BackupId"]]
    assert listed[0]["BackupArn"] == shared["BackupArn"]

    cluster_id = restored_cluster(other, shared["BackupArn"])
    cluster = describe(other, cluster_id)
    assert cluster["State"] == "ACTIVE" and cluster["Hsms"] == []
    hsm = other.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]
    assert hsm_states(other, cluster_id) == {hsm["HsmId"]: "ACTIVE"}
    assert hsm["HsmId"] in sim.tokens()
    assert cluster_id not in [c["ClusterId"] for c in cloudhsm.describe_clusters()["Clusters"]]

    # Another account's backup needs its full ARN: a bare id names a backup of the caller's own account.
    with pytest.raises(ClientError) as exc:
        restored_cluster(other, shared["BackupId"])
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert shared["BackupId"] in message

    with pytest.raises(ClientError) as exc:
        other.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2], SourceBackupId=private["BackupArn"])
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert private["BackupId"] in message
    # The other account cannot manage the owner's backup either.
    with pytest.raises(ClientError) as exc:
        other.delete_backup(BackupId=shared["BackupId"])
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"

    cloudhsm.delete_resource_policy(ResourceArn=shared["BackupArn"])
    assert backups(other, Shared=True) == []
    with pytest.raises(ClientError) as exc:
        restored_cluster(other, shared["BackupArn"])
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"
    assert describe(other, cluster_id)["State"] == "ACTIVE"  # clusters already made from it are unaffected


def test_backup_shared_with_everyone_is_listed_and_restorable(sim, cloudhsm):
    other = sim.client("cloudhsmv2", account=OTHER_ACCOUNT)
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (b,) = cluster_backups(cloudhsm, cluster_id)
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "cloudhsm:CreateCluster", "Resource": b["BackupArn"]}
            ],
        }
    )
    cloudhsm.put_resource_policy(ResourceArn=b["BackupArn"], Policy=policy)
    # What CreateCluster accepts, DescribeBackups(Shared=True) lists.
    assert ids(backups(other, Shared=True)) == [b["BackupId"]]
    assert describe(other, restored_cluster(other, b["BackupArn"]))["State"] == "ACTIVE"


def test_resource_policy_needs_a_ready_backup(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (b,) = cluster_backups(cloudhsm, cluster_id)
    cloudhsm.delete_backup(BackupId=b["BackupId"])
    with pytest.raises(ClientError) as exc:
        cloudhsm.put_resource_policy(ResourceArn=b["BackupArn"], Policy=policy_for(OTHER_ACCOUNT, b["BackupArn"]))
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "PENDING_DELETION" in message
    # A backup in another region is not found through this region's endpoint.
    west_arn = b["BackupArn"].replace(":us-east-1:", ":us-west-2:")
    with pytest.raises(ClientError) as exc:
        cloudhsm.get_resource_policy(ResourceArn=west_arn)
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"


def test_failed_copy_leaves_no_copy_behind(sim, cloudhsm):
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (backup_id,) = ids(cluster_backups(cloudhsm, cluster_id))
    snapshots = sorted(p.name for p in (sim.data_dir / "backups").iterdir())
    with pytest.raises(ClientError) as exc:
        cloudhsm.copy_backup_to_region(
            DestinationRegion="us-west-2", BackupId=backup_id, TagList=[{"Key": "aws:owner", "Value": "me"}]
        )
    code, message = error_of(exc)
    assert code == "CloudHsmTagException"
    assert "aws:owner" in message
    assert backups(sim.client("cloudhsmv2", region="us-west-2")) == []
    assert sorted(p.name for p in (sim.data_dir / "backups").iterdir()) == snapshots


# -- with AWS-like durations (the realistic delay profile) ---------------------------------------------------


def realistic_active_cluster(server: ServerProcess, client: Any) -> str:
    """Create, add the first HSM, initialize and activate, advancing the clock past each step's delay."""
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2])["Cluster"]["ClusterId"]
    server.advance(5 * 60 + 1)
    client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    server.advance(10 * 60 + 1)
    ca = CustomerCA()
    csr = describe(client, cluster_id)["Certificates"]["ClusterCsr"]
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(csr), TrustAnchor=ca.pem)
    server.advance(5 * 60 + 1)
    status, body = server.control("POST", f"/_hsmsim/clusters/{cluster_id}/activate", {"password": "Admin-Pass-1"})
    assert status == 200, body
    assert describe(client, cluster_id)["State"] == "ACTIVE"
    return cluster_id


def test_backup_in_progress_cannot_be_deleted_restored_or_copied(realistic):
    client = realistic.client("cloudhsmv2")
    cluster_id = realistic_active_cluster(realistic, client)
    (b,) = cluster_backups(client, cluster_id)
    assert b["BackupState"] == "CREATE_IN_PROGRESS"
    for call, kwargs in (
        (client.delete_backup, {"BackupId": b["BackupId"]}),
        (client.copy_backup_to_region, {"BackupId": b["BackupId"], "DestinationRegion": "us-west-2"}),
        (client.create_cluster, {"HsmType": "hsm1.medium", "SubnetIds": SUBNETS[:1], "SourceBackupId": b["BackupId"]}),
    ):
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        code, message = error_of(exc)
        assert code == "CloudHsmInvalidRequestException"
        assert "CREATE_IN_PROGRESS" in message
    realistic.advance(5 * 60 + 1)
    assert backup(client, b["BackupId"])["BackupState"] == "READY"

    west = realistic.client("cloudhsmv2", region="us-west-2")
    client.copy_backup_to_region(BackupId=b["BackupId"], DestinationRegion="us-west-2")
    (copy,) = backups(west)
    assert copy["BackupState"] == "CREATE_IN_PROGRESS"
    realistic.advance(15 * 60 + 1)
    assert backup(west, copy["BackupId"])["BackupState"] == "READY"


def test_daily_backups_go_on_after_an_hsm_type_migration(realistic):
    client = realistic.client("cloudhsmv2")
    cluster_id = realistic_active_cluster(realistic, client)
    # The daily backup falls due 10 minutes into a 30-minute migration, while the cluster is not ACTIVE.
    realistic.advance(DAY - 10 * 60)
    modified = client.modify_cluster(ClusterId=cluster_id, HsmType="hsm2m.medium")["Cluster"]
    assert modified["State"] == "MODIFY_IN_PROGRESS"
    realistic.advance(3600)
    assert describe(client, cluster_id)["State"] == "ACTIVE"
    count = len(cluster_backups(client, cluster_id))
    realistic.advance(3 * DAY)
    assert len(cluster_backups(client, cluster_id)) == count + 3
