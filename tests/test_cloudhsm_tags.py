"""TagResource, UntagResource and ListTags on clusters and backups (spec 1.1, 1.2), end to end with boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers import SUBNETS, active_cluster, describe, new_cluster

OTHER_ACCOUNT = "444455556666"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def tags_of(client: Any, resource_id: str) -> dict[str, str]:
    listed = client.list_tags(ResourceId=resource_id)
    assert "NextToken" not in listed
    return {t["Key"]: t["Value"] for t in listed["TagList"]}


def tag_list(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


@pytest.fixture
def backup_id(sim, cloudhsm) -> str:
    cluster_id, _ = active_cluster(sim, cloudhsm)
    (b,) = cloudhsm.describe_backups(Filters={"clusterIds": [cluster_id]})["Backups"]
    return b["BackupId"]


@pytest.fixture(params=["cluster", "backup"])
def resource_id(request, cloudhsm) -> str:
    if request.param == "cluster":
        return new_cluster(cloudhsm)
    return request.getfixturevalue("backup_id")


def test_tag_list_untag(cloudhsm, resource_id):
    assert cloudhsm.list_tags(ResourceId=resource_id)["TagList"] == []
    assert cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "dev", "team": "crypto"}))
    assert tags_of(cloudhsm, resource_id) == {"env": "dev", "team": "crypto"}
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"cost-center": "4711", "empty": ""}))
    assert cloudhsm.list_tags(ResourceId=resource_id)["TagList"] == tag_list(
        {"env": "dev", "team": "crypto", "cost-center": "4711", "empty": ""}
    )
    cloudhsm.untag_resource(ResourceId=resource_id, TagKeyList=["team", "empty"])
    assert tags_of(cloudhsm, resource_id) == {"env": "dev", "cost-center": "4711"}
    cloudhsm.untag_resource(ResourceId=resource_id, TagKeyList=["env", "cost-center"])
    assert cloudhsm.list_tags(ResourceId=resource_id)["TagList"] == []


def test_tag_overwrites_an_existing_key(cloudhsm, resource_id):
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "dev", "team": "crypto"}))
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "prod"}))
    assert cloudhsm.list_tags(ResourceId=resource_id)["TagList"] == tag_list({"env": "prod", "team": "crypto"})


def test_tags_show_in_describe(cloudhsm, resource_id):
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "dev"}))
    if resource_id.startswith("cluster-"):
        shown = describe(cloudhsm, resource_id)["TagList"]
    else:
        shown = cloudhsm.describe_backups(Filters={"backupIds": [resource_id]})["Backups"][0]["TagList"]
    assert shown == tag_list({"env": "dev"})


def test_reserved_aws_prefix(cloudhsm, resource_id):
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "dev"}))
    for key in ("aws:createdBy", "AWS:owner"):
        with pytest.raises(ClientError) as exc:
            cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"team": "crypto", key: "x"}))
        code, message = error_of(exc)
        assert code == "CloudHsmTagException"
        assert key in message and "aws:" in message
    assert tags_of(cloudhsm, resource_id) == {"env": "dev"}  # nothing of a rejected request is kept


def test_more_than_50_tags(cloudhsm, resource_id):
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({f"k{i}": "v" for i in range(30)}))
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({f"k{i}": "v" for i in range(30, 50)}))
    assert len(tags_of(cloudhsm, resource_id)) == 50
    # Overwriting keeps the count at 50.
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"k0": "new", "k49": "new"}))
    tags = tags_of(cloudhsm, resource_id)
    assert len(tags) == 50 and tags["k0"] == tags["k49"] == "new"
    with pytest.raises(ClientError) as exc:
        cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"k1": "changed", "k50": "v"}))
    code, message = error_of(exc)
    assert code == "CloudHsmResourceLimitExceededException"
    assert "51" in message and "50" in message
    tags = tags_of(cloudhsm, resource_id)
    assert len(tags) == 50 and "k50" not in tags and tags["k1"] == "v"


def test_more_than_50_tags_in_one_request_fails_validation(cloudhsm, resource_id):
    with pytest.raises(ClientError) as exc:
        cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({f"k{i}": "v" for i in range(51)}))
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "tagList" in message and "less than or equal to 50" in message
    assert tags_of(cloudhsm, resource_id) == {}


def test_tag_value_violating_the_pattern_fails_validation(cloudhsm, resource_id):
    with pytest.raises(ClientError) as exc:
        cloudhsm.tag_resource(ResourceId=resource_id, TagList=[{"Key": "env", "Value": "dev#1"}])
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "dev#1" in message and "regular expression pattern" in message
    with pytest.raises(ClientError) as exc:
        cloudhsm.tag_resource(ResourceId=resource_id, TagList=[{"Key": "bad*key", "Value": "x"}])
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "bad*key" in message
    assert tags_of(cloudhsm, resource_id) == {}


def test_unknown_resources(sim, cloudhsm):
    for unknown in ("cluster-abcdefghijk", "backup-abcdefghijk"):
        for call, kwargs in (
            (cloudhsm.tag_resource, {"TagList": tag_list({"env": "dev"})}),
            (cloudhsm.untag_resource, {"TagKeyList": ["env"]}),
            (cloudhsm.list_tags, {}),
        ):
            with pytest.raises(ClientError) as exc:
                call(ResourceId=unknown, **kwargs)
            code, message = error_of(exc)
            assert code == "CloudHsmResourceNotFoundException"
            assert unknown in message


def test_another_accounts_resources_are_not_found(sim, cloudhsm, resource_id):
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "dev"}))
    other = sim.client("cloudhsmv2", account=OTHER_ACCOUNT)
    with pytest.raises(ClientError) as exc:
        other.list_tags(ResourceId=resource_id)
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        other.tag_resource(ResourceId=resource_id, TagList=tag_list({"env": "hacked"}))
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"
    west = sim.client("cloudhsmv2", region="us-west-2")
    with pytest.raises(ClientError) as exc:
        west.untag_resource(ResourceId=resource_id, TagKeyList=["env"])
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"
    assert tags_of(cloudhsm, resource_id) == {"env": "dev"}


def test_list_tags_pagination(cloudhsm, resource_id):
    expected = tag_list({f"key-{i}": f"value-{i}" for i in range(7)})
    cloudhsm.tag_resource(ResourceId=resource_id, TagList=expected)
    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"ResourceId": resource_id, "MaxResults": 3}
        if token:
            kwargs["NextToken"] = token
        response = cloudhsm.list_tags(**kwargs)
        pages.append(response["TagList"])
        token = response.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [t for p in pages for t in p] == expected
    with pytest.raises(ClientError) as exc:
        cloudhsm.list_tags(ResourceId=resource_id, NextToken="garbage!", MaxResults=3)
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "NextToken" in message


def test_create_cluster_tags(sim, cloudhsm):
    tags = tag_list({"env": "dev", "owner": "team-a"})
    created = cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2], TagList=tags)["Cluster"]
    assert created["TagList"] == tags
    cluster_id = created["ClusterId"]
    assert describe(cloudhsm, cluster_id)["TagList"] == tags
    assert cloudhsm.list_tags(ResourceId=cluster_id)["TagList"] == tags
    listed = cloudhsm.describe_clusters()["Clusters"]
    assert [c["TagList"] for c in listed if c["ClusterId"] == cluster_id] == [tags]
    untagged = new_cluster(cloudhsm)
    assert describe(cloudhsm, untagged)["TagList"] == []


def test_create_cluster_with_a_reserved_tag_creates_nothing(sim, cloudhsm):
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_cluster(
            HsmType="hsm1.medium", SubnetIds=SUBNETS[:2], TagList=tag_list({"aws:cloudformation:stack": "x"})
        )
    code, message = error_of(exc)
    assert code == "CloudHsmTagException"
    assert "aws:cloudformation:stack" in message
    assert cloudhsm.describe_clusters()["Clusters"] == []


def test_tags_go_with_a_purged_backup(sim, cloudhsm, backup_id):
    cloudhsm.tag_resource(ResourceId=backup_id, TagList=tag_list({"env": "dev"}))
    cloudhsm.delete_backup(BackupId=backup_id)
    assert tags_of(cloudhsm, backup_id) == {"env": "dev"}  # still there while restorable
    sim.advance(7 * 24 * 3600 + 60)
    with pytest.raises(ClientError) as exc:
        cloudhsm.list_tags(ResourceId=backup_id)
    code, message = error_of(exc)
    assert code == "CloudHsmResourceNotFoundException"
    assert backup_id in message
