"""Custom key store test helpers on :mod:`hsmsim.testing`: the data plane (:class:`DataPlane`), ACTIVE two-HSM
clusters (:func:`from_scratch`) and CONNECTED stores (:meth:`Account.custom_key_store`), with the fixed
passwords of :mod:`helpers` (ADMIN, KMSUSER) for the tests that walk the flow or need a known password."""

from __future__ import annotations

from typing import Any

from conftest import ACCOUNT
from helpers import ADMIN, KMSUSER, USERS, scope

from hsmsim.testing import HsmUser, Simulation
from hsmsim.testing.clusters import DataPlane, from_scratch

KMSUSER_PASSWORD = KMSUSER.password


def plane(sim: Any, cluster_id: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """A data-plane call (what the CloudHSM CLI sends); returns (status, envelope)."""
    return DataPlane(sim.url, cluster_id).request(method, path, body, token)


def login(sim: Any, cluster_id: str, username: str, password: str, role: str) -> tuple[int, Any]:
    return plane(sim, cluster_id, "POST", "/login", {"username": username, "password": password, "role": role})


def as_admin(sim: Any, cluster_id: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, envelope = login(sim, cluster_id, ADMIN.username, ADMIN.password, "admin")
    assert status == 200, envelope
    token = envelope["token"]
    try:
        return plane(sim, cluster_id, method, path, body, token)
    finally:
        plane(sim, cluster_id, "POST", "/logout", {}, token)


def create_kmsuser(sim: Any, cluster_id: str, password: str = KMSUSER_PASSWORD) -> None:
    DataPlane(sim.url, cluster_id).create_users(ADMIN, HsmUser("kmsuser", "crypto-user", password))


def set_kmsuser_password(sim: Any, cluster_id: str, password: str) -> tuple[int, Any]:
    return as_admin(sim, cluster_id, "POST", "/users/kmsuser/password", {"role": "crypto-user", "password": password})


def two_hsm_cluster(sim: Any, cloudhsm: Any) -> tuple[str, str]:
    """An ACTIVE cluster with ACTIVE HSMs in us-east-1a and us-east-1b, ADMIN activated and no other user (no
    kmsuser yet); returns (cluster id, trust anchor PEM)."""
    cluster = from_scratch(scope(sim, cloudhsm), 2, USERS, create=())
    assert cluster.availability_zones == ("us-east-1a", "us-east-1b"), cluster
    return cluster.cluster_id, cluster.trust_anchor_pem


def store_state(kms: Any, store_id: str) -> dict[str, Any]:
    return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]


def connected_store(sim: Any, name: str = "store", account: str = ACCOUNT) -> tuple[str, str]:
    """A CONNECTED store of ``account`` on a fresh two-HSM cluster with KMSUSER; returns (store id, cluster id)."""
    store = Simulation(sim.url, sim).account(account).custom_key_store(
        from_scratch(scope(sim, sim.client("cloudhsmv2", account)), 2, USERS, create=(KMSUSER,)), name=name)
    return store.custom_key_store_id, store.cluster.cluster_id
