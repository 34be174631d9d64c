"""Test helpers: the first steps of AWS's getting-started flow for tests that walk it (``new_cluster``,
``initialized_cluster``), and ACTIVE clusters with fixed passwords made by :func:`hsmsim.testing.clusters.from_scratch`
(the customer CA is :class:`hsmsim.testing.CustomerCA`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import ACCOUNT

from hsmsim.hsm import SoftHSM
from hsmsim.simulator import render_softhsm_conf
from hsmsim.testing import CustomerCA, HsmUser
from hsmsim.testing.clusters import Scope, Users, from_scratch

SUBNETS = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb", "subnet-0123456789abcdefc"]
# The fixed credentials the tests' assertions rely on; active_cluster activates ADMIN and makes no other user.
ADMIN = HsmUser("admin", "admin", "Admin-Pass-1")
KMSUSER = HsmUser("kmsuser", "crypto-user", "kmsuserPass1")
USERS = Users(ADMIN, KMSUSER, HsmUser("appuser", "crypto-user", "Appuser-Pass-1"))


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


def scope(sim: Any, client: Any, account: str = ACCOUNT) -> Scope:
    """Where :func:`from_scratch` makes clusters: ``client`` (a cloudhsmv2 client of ``account``) on ``sim``."""
    return Scope(client, sim.url, account, client.meta.region_name)


def active_cluster(sim: Any, client: Any, hsms: int = 1, create: tuple[HsmUser, ...] = ()) -> tuple[str, str]:
    """An ACTIVE cluster with ``hsms`` ACTIVE HSMs, ADMIN activated, the users ``create`` made; returns (cluster id,
    first HSM id)."""
    cluster = from_scratch(scope(sim, client), hsms, USERS, create=create)
    assert describe(client, cluster.cluster_id)["State"] == "ACTIVE"
    return cluster.cluster_id, cluster.hsm_ids[0]


def open_softhsm(base: Path, so_pin: str = "so-pin-123456", user_pin: str = "user-pin-123456") -> SoftHSM:
    """A SoftHSM over ``base/tokens`` with the configuration the server renders (for in-process HSM tests)."""
    (base / "tokens").mkdir(parents=True, exist_ok=True)
    return SoftHSM(base / "tokens", render_softhsm_conf(base), so_pin, user_pin)
