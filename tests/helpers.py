"""Test helpers: cluster set-up through boto3 (the customer CA is hsmsim.testing.CustomerCA)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hsmsim.hsm import SoftHSM
from hsmsim.simulator import render_softhsm_conf
from hsmsim.testing import CustomerCA

SUBNETS = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb", "subnet-0123456789abcdefc"]


def describe(client: Any, cluster_id: str) -> dict[str, Any]:
    return client.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"][0]


def new_cluster(client: Any, subnets: list[str] | None = None, **kwargs: Any) -> str:
    cluster = client.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets or SUBNETS[:2], **kwargs)["Cluster"]
    assert cluster["State"] == "CREATE_IN_PROGRESS"
    return cluster["ClusterId"]


def initialized_cluster(client: Any, ca: CustomerCA | None = None) -> tuple[str, str]:
    """CreateCluster -> first HSM ACTIVE -> InitializeCluster -> INITIALIZED; returns (cluster id, HSM id)."""
    ca = ca or CustomerCA()
    cluster_id = new_cluster(client)
    assert describe(client, cluster_id)["State"] == "UNINITIALIZED"
    hsm_id = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    csr = describe(client, cluster_id)["Certificates"]["ClusterCsr"]
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(csr), TrustAnchor=ca.pem)
    assert describe(client, cluster_id)["State"] == "INITIALIZED"
    return cluster_id, hsm_id


def active_cluster(sim: Any, client: Any) -> tuple[str, str]:
    """An ACTIVE cluster with one ACTIVE HSM (activated through the data-plane endpoint)."""
    cluster_id, hsm_id = initialized_cluster(client)
    status, body = sim.control("POST", f"/_hsmsim/clusters/{cluster_id}/activate", {"password": "Admin-Pass-1"})
    assert status == 200, body
    assert describe(client, cluster_id)["State"] == "ACTIVE"
    return cluster_id, hsm_id


def open_softhsm(base: Path, so_pin: str = "so-pin-123456", user_pin: str = "user-pin-123456") -> SoftHSM:
    """A SoftHSM over ``base/tokens`` with the configuration the server renders (for in-process HSM tests)."""
    (base / "tokens").mkdir(parents=True, exist_ok=True)
    return SoftHSM(base / "tokens", render_softhsm_conf(base), so_pin, user_pin)
