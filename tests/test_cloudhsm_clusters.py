"""CreateCluster, DescribeClusters, ModifyCluster, DeleteCluster end to end with boto3."""

import re

import pytest
from botocore.exceptions import ClientError
from helpers import SUBNETS, describe, new_cluster

ID = re.compile(r"^cluster-[a-z2-7]{11}$")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_create_cluster_returns_create_in_progress_and_becomes_uninitialized(cloudhsm):
    cluster = cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2])["Cluster"]
    assert ID.match(cluster["ClusterId"])
    assert cluster["State"] == "CREATE_IN_PROGRESS"
    assert cluster["Hsms"] == [] and cluster["Certificates"] == {}
    assert cluster["BackupPolicy"] == "DEFAULT"
    assert cluster["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "90"}
    assert cluster["SubnetMapping"] == {"us-east-1a": SUBNETS[0], "us-east-1b": SUBNETS[1]}
    assert cluster["VpcId"].startswith("vpc-") and cluster["SecurityGroup"].startswith("sg-")
    assert cluster["Mode"] == "FIPS" and cluster["NetworkType"] == "IPV4"
    assert describe(cloudhsm, cluster["ClusterId"])["State"] == "UNINITIALIZED"


def test_subnet_ids_ending_in_a_digit_map_to_zones_a_to_c(cloudhsm):
    cluster_id = new_cluster(cloudhsm, subnets=["subnet-00000000", "subnet-00000001", "subnet-00000002"])
    assert sorted(describe(cloudhsm, cluster_id)["SubnetMapping"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_two_subnets_in_one_availability_zone_are_rejected(cloudhsm):
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=["subnet-1111111a", "subnet-2222222a"])
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "us-east-1a" in message and "one subnet per Availability Zone" in message
    assert cloudhsm.describe_clusters()["Clusters"] == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"HsmType": "hsm9.huge"}, "HsmType 'hsm9.huge' is not supported"),
        ({"HsmType": "hsm1.medium", "Mode": "NON_FIPS"}, "NON_FIPS"),
        ({"HsmType": "hsm1.medium", "BackupRetentionPolicy": {"Type": "DAYS", "Value": "6"}}, "7 to 379"),
        ({"HsmType": "hsm1.medium", "BackupRetentionPolicy": {"Type": "DAYS", "Value": "380"}}, "7 to 379"),
        ({"HsmType": "hsm1.medium", "SourceBackupId": "backup-aaaaaaaaaaa"}, "not found"),
    ],
)
def test_create_cluster_rules(cloudhsm, kwargs, fragment):
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_cluster(SubnetIds=SUBNETS[:1], **kwargs)
    code, message = error_of(exc)
    assert code in ("CloudHsmInvalidRequestException", "CloudHsmResourceNotFoundException")
    assert fragment in message
    assert cloudhsm.describe_clusters()["Clusters"] == []


def test_hsm2m_non_fips_and_dualstack(cloudhsm):
    cluster = cloudhsm.create_cluster(
        HsmType="hsm2m.medium", Mode="NON_FIPS", NetworkType="DUALSTACK", SubnetIds=SUBNETS[:1]
    )["Cluster"]
    assert (cluster["HsmType"], cluster["Mode"], cluster["NetworkType"]) == ("hsm2m.medium", "NON_FIPS", "DUALSTACK")
    hsm = cloudhsm.create_hsm(ClusterId=cluster["ClusterId"], AvailabilityZone="us-east-1a")["Hsm"]
    assert ":" in hsm["EniIpV6"]


def test_server_side_validation_of_patterns_and_enums(cloudhsm):
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=["subnet-xyz"], NetworkType="IPV5")
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'subnet-xyz' at 'subnetIds.1.member' failed to satisfy constraint" in message
    assert "Member must satisfy enum value set: [IPV4, DUALSTACK]" in message


def test_describe_clusters_filters_and_pagination(cloudhsm):
    ids = [new_cluster(cloudhsm) for _ in range(5)]
    other = cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:1])["Cluster"]["ClusterId"]
    assert [c["ClusterId"] for c in cloudhsm.describe_clusters(Filters={"clusterIds": ids[:2]})["Clusters"]] == ids[:2]
    states = cloudhsm.describe_clusters(Filters={"states": ["UNINITIALIZED"]})["Clusters"]
    assert [c["ClusterId"] for c in states] == ids + [other]
    assert cloudhsm.describe_clusters(Filters={"states": ["ACTIVE", "DELETED"]})["Clusters"] == []
    vpc = describe(cloudhsm, ids[0])["VpcId"]
    assert len(cloudhsm.describe_clusters(Filters={"vpcIds": [vpc]})["Clusters"]) == 6
    assert cloudhsm.describe_clusters(Filters={"vpcIds": ["vpc-00000000"]})["Clusters"] == []
    seen, token = [], None
    while True:
        page = cloudhsm.describe_clusters(MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Clusters"]) <= 2
        seen += [c["ClusterId"] for c in page["Clusters"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == ids + [other]
    paginated = [c["ClusterId"] for p in cloudhsm.get_paginator("describe_clusters").paginate(PaginationConfig={"PageSize": 4}) for c in p["Clusters"]]
    assert paginated == seen


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"Filters": {"colour": ["blue"]}}, "Invalid filter 'colour'"),
        ({"Filters": {"states": ["ASLEEP"]}}, "Invalid cluster state 'ASLEEP'"),
        ({"NextToken": "not-a-token"}, "NextToken is not valid"),
    ],
)
def test_describe_clusters_bad_input(cloudhsm, kwargs, fragment):
    with pytest.raises(ClientError) as exc:
        cloudhsm.describe_clusters(**kwargs)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException" and fragment in message


def test_max_results_over_the_model_maximum_is_a_validation_error(cloudhsm):
    with pytest.raises(ClientError) as exc:
        cloudhsm.describe_clusters(MaxResults=26)
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value '26' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 25",
    )


def test_clusters_are_scoped_by_account_and_region(sim, cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    other_account = sim.client("cloudhsmv2", account="444455556666")
    other_region = sim.client("cloudhsmv2", region="eu-west-1")
    assert other_account.describe_clusters()["Clusters"] == []
    assert other_region.describe_clusters()["Clusters"] == []
    with pytest.raises(ClientError) as exc:
        other_account.delete_cluster(ClusterId=cluster_id)
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"
    assert sorted(other_region.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:1])["Cluster"]["SubnetMapping"]) == ["eu-west-1a"]


def test_modify_cluster_retention(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    cluster = cloudhsm.modify_cluster(ClusterId=cluster_id, BackupRetentionPolicy={"Type": "DAYS", "Value": "30"})["Cluster"]
    assert cluster["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "30"}
    assert describe(cloudhsm, cluster_id)["BackupRetentionPolicy"]["Value"] == "30"
    with pytest.raises(ClientError) as exc:
        cloudhsm.modify_cluster(ClusterId=cluster_id, BackupRetentionPolicy={"Type": "DAYS", "Value": "400"})
    assert error_of(exc)[0] == "CloudHsmInvalidRequestException"
    assert describe(cloudhsm, cluster_id)["BackupRetentionPolicy"]["Value"] == "30"


def test_hsm_type_migration_needs_an_active_cluster(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    with pytest.raises(ClientError) as exc:
        cloudhsm.modify_cluster(ClusterId=cluster_id, HsmType="hsm2m.medium")
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException" and "ACTIVE" in message
    assert describe(cloudhsm, cluster_id)["HsmType"] == "hsm1.medium"


def test_hsm_type_migration_and_rollback(cloudhsmv2_client, cloudhsm_cluster):
    cloudhsm, cluster_id = cloudhsmv2_client, cloudhsm_cluster(1).cluster_id  # any ACTIVE cluster (the plugin's)
    migrating = cloudhsm.modify_cluster(ClusterId=cluster_id, HsmType="hsm2m.medium")["Cluster"]
    assert migrating["State"] == "MODIFY_IN_PROGRESS"
    assert migrating["HsmTypeRollbackExpiration"] is not None
    after = describe(cloudhsm, cluster_id)
    assert (after["State"], after["HsmType"]) == ("ACTIVE", "hsm2m.medium")
    assert all(h["HsmType"] == "hsm2m.medium" for h in after["Hsms"])
    rolling_back = cloudhsm.modify_cluster(ClusterId=cluster_id, HsmType="hsm1.medium")["Cluster"]
    assert rolling_back["State"] == "ROLLBACK_IN_PROGRESS"
    assert describe(cloudhsm, cluster_id)["HsmType"] == "hsm1.medium"


def test_delete_cluster_lifecycle(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    with pytest.raises(ClientError) as exc:
        cloudhsm.delete_cluster(ClusterId=cluster_id)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException" and "Delete all HSMs" in message
    hsm_id = describe(cloudhsm, cluster_id)["Hsms"][0]["HsmId"]
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm_id)
    deleting = cloudhsm.delete_cluster(ClusterId=cluster_id)["Cluster"]
    assert deleting["State"] == "DELETE_IN_PROGRESS"
    assert deleting["StateMessage"] == "The cluster is being deleted."
    assert describe(cloudhsm, cluster_id)["State"] == "DELETED"
    with pytest.raises(ClientError) as exc:
        cloudhsm.delete_cluster(ClusterId=cluster_id)
    assert error_of(exc)[0] == "CloudHsmInvalidRequestException"


def test_deleted_cluster_disappears_after_a_day(sim, cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    cloudhsm.describe_clusters()
    cloudhsm.delete_cluster(ClusterId=cluster_id)
    assert describe(cloudhsm, cluster_id)["State"] == "DELETED"
    sim.advance(24 * 3600 + 1)
    assert cloudhsm.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"] == []


def test_unknown_cluster(cloudhsm):
    for call in (
        lambda: cloudhsm.delete_cluster(ClusterId="cluster-aaaaaaaaaaa"),
        lambda: cloudhsm.modify_cluster(ClusterId="cluster-aaaaaaaaaaa", HsmType="hsm2m.medium"),
        lambda: cloudhsm.create_hsm(ClusterId="cluster-aaaaaaaaaaa", AvailabilityZone="us-east-1a"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("CloudHsmResourceNotFoundException", "Cluster 'cluster-aaaaaaaaaaa' not found.")


def test_filter_values_with_a_nul_match_nothing(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    assert cloudhsm.describe_clusters(Filters={"clusterIds": [cluster_id + "\x00"]})["Clusters"] == []
    assert cloudhsm.describe_backups(Filters={"clusterIds": ["\x00"]})["Backups"] == []
