"""CreateHsm and DeleteHsm: rules, ENIs, and the SoftHSM token behind each HSM."""

import re

import pytest
from botocore.exceptions import ClientError
from helpers import SUBNETS, active_cluster, describe, initialized_cluster, new_cluster


def error_of(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_first_hsm_is_a_new_token_with_a_csr(sim, cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]
    assert re.match(r"^hsm-[a-z2-7]{11}$", hsm["HsmId"])
    assert hsm["State"] == "CREATE_IN_PROGRESS"
    assert (hsm["ClusterId"], hsm["AvailabilityZone"], hsm["SubnetId"]) == (cluster_id, "us-east-1b", SUBNETS[1])
    assert re.match(r"^eni-[0-9a-f]{17}$", hsm["EniId"])
    assert hsm["HsmType"] == "hsm1.medium"
    assert hsm["HsmId"] in sim.tokens()
    cluster = describe(cloudhsm, cluster_id)
    assert cluster["Hsms"][0]["State"] == "ACTIVE"
    assert cluster["Hsms"][0]["StateMessage"] == "HSM created."
    assert set(cluster["Certificates"]) == {
        "ClusterCsr",
        "HsmCertificate",
        "AwsHardwareCertificate",
        "ManufacturerHardwareCertificate",
    }


def test_second_hsm_before_activation_is_rejected(sim, cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    tokens = sim.tokens()
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    assert error_of(exc) == (
        "CloudHsmInvalidRequestException",
        f"Cluster '{cluster_id}' already contains an HSM but has not yet been fully activated",
    )
    assert len(describe(cloudhsm, cluster_id)["Hsms"]) == 1
    assert sim.tokens() == tokens


def test_create_hsm_in_a_zone_without_subnet(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1d")
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException"
    assert "us-east-1d" in message and "us-east-1a, us-east-1b" in message


def test_create_hsm_before_the_cluster_exists_fully(sim, cloudhsm):
    cluster_id = cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:1])["Cluster"]["ClusterId"]
    # The instant profile applies CREATE_IN_PROGRESS -> UNINITIALIZED on the next request, which is this one.
    assert cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["State"] == "CREATE_IN_PROGRESS"


def test_ip_address_rules(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    first = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=first["HsmId"])
    network = first["EniIp"].rsplit(".", 1)[0]
    for address, fragment in ((f"{network}.1", "is reserved"), ("192.0.2.10", "is not in the CIDR block")):
        with pytest.raises(ClientError) as exc:
            cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a", IpAddress=address)
        code, message = error_of(exc)
        assert code == "CloudHsmInvalidRequestException" and fragment in message
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a", IpAddress="10.1.2")
    assert error_of(exc)[0] == "ValidationException"
    chosen = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a", IpAddress=f"{network}.77")["Hsm"]
    assert chosen["EniIp"] == f"{network}.77"


def test_delete_hsm_by_each_identifier(sim, cloudhsm):
    for key in ("HsmId", "EniId", "EniIp"):
        cluster_id = new_cluster(cloudhsm)
        hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]
        assert hsm["HsmId"] in sim.tokens()
        assert cloudhsm.delete_hsm(ClusterId=cluster_id, **{key: hsm[key]})["HsmId"] == hsm["HsmId"]
        assert describe(cloudhsm, cluster_id)["Hsms"] == []
        assert hsm["HsmId"] not in sim.tokens()


def test_delete_hsm_needs_exactly_one_identifier(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    hsm = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]
    for kwargs in ({}, {"HsmId": hsm["HsmId"], "EniId": hsm["EniId"]}):
        with pytest.raises(ClientError) as exc:
            cloudhsm.delete_hsm(ClusterId=cluster_id, **kwargs)
        assert error_of(exc) == ("CloudHsmInvalidRequestException", "Specify exactly one of HsmId, EniId or EniIp.")
    with pytest.raises(ClientError) as exc:
        cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId="hsm-aaaaaaaaaaa")
    assert error_of(exc)[0] == "CloudHsmResourceNotFoundException"
    assert len(describe(cloudhsm, cluster_id)["Hsms"]) == 1


def test_initialized_cluster_that_lost_its_hsm_cannot_get_another(cloudhsm):
    cluster_id, hsm_id = initialized_cluster(cloudhsm)
    cloudhsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm_id)
    with pytest.raises(ClientError) as exc:
        cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    assert "no backup" in error_of(exc)[1]


def test_active_cluster_grows_with_hsms_restored_from_a_backup(sim, cloudhsm):
    cluster_id, first = active_cluster(sim, cloudhsm)
    second = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    cluster = describe(cloudhsm, cluster_id)
    assert [h["State"] for h in cluster["Hsms"]] == ["ACTIVE", "ACTIVE"]
    assert {h["AvailabilityZone"] for h in cluster["Hsms"]} == {"us-east-1a", "us-east-1b"}
    tokens = sim.tokens()
    assert first in tokens and second in tokens and tokens[first] != tokens[second]


def test_hsm_quota_per_region(sim):
    client = sim.client("cloudhsmv2", account="999988887777")
    cluster_ids = [new_cluster(client, subnets=[SUBNETS[0]]) for _ in range(51)]
    for cluster_id in cluster_ids[:50]:
        client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    with pytest.raises(ClientError) as exc:
        client.create_hsm(ClusterId=cluster_ids[50], AvailabilityZone="us-east-1a")
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException" and "quota: 50" in message
    assert describe(client, cluster_ids[50])["Hsms"] == []
