"""Delay profiles: realistic AWS-like minutes driven by the clock endpoint, and the fast profile's ticker."""

import time

from conftest import ServerProcess
from helpers import SUBNETS, describe


def test_realistic_delays_follow_the_simulated_clock(realistic):
    client = realistic.client("cloudhsmv2")
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:1])["Cluster"]["ClusterId"]
    assert describe(client, cluster_id)["State"] == "CREATE_IN_PROGRESS"
    realistic.advance(4 * 60)
    assert describe(client, cluster_id)["State"] == "CREATE_IN_PROGRESS"
    realistic.advance(60)
    assert describe(client, cluster_id)["State"] == "UNINITIALIZED"
    hsm_id = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    assert describe(client, cluster_id)["Hsms"][0]["State"] == "CREATE_IN_PROGRESS"
    assert describe(client, cluster_id)["Certificates"] == {}  # the CSR appears with the ACTIVE HSM
    realistic.advance(10 * 60)
    cluster = describe(client, cluster_id)
    assert cluster["Hsms"][0]["HsmId"] == hsm_id and cluster["Hsms"][0]["State"] == "ACTIVE"
    assert "ClusterCsr" in cluster["Certificates"]


def test_fast_profile_moves_on_by_itself(tmp_path):
    server = ServerProcess(tmp_path / "data", args=["--delays", "fast"]).start()
    try:
        client = server.client("cloudhsmv2")
        cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:1])["Cluster"]["ClusterId"]
        states = [describe(client, cluster_id)["State"]]
        for _ in range(3000):  # the step takes about 50 ms of wall time; the bound only stops a broken ticker
            if states[-1] != "CREATE_IN_PROGRESS":
                break
            time.sleep(0.01)
            states.append(describe(client, cluster_id)["State"])
        assert states[-1] == "UNINITIALIZED"
    finally:
        server.stop()
