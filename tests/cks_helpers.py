"""Custom key store test helpers: an ACTIVE cluster with two HSMs in two zones, kmsuser, a store."""

from __future__ import annotations

from typing import Any

from helpers import describe, initialized_cluster

from hsmsim.testing import CustomerCA

ADMIN = ("admin", "Admin-Pass-1")
KMSUSER_PASSWORD = "kmsuserPass1"


def plane(sim: Any, cluster_id: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """A data-plane call (what the CloudHSM CLI sends); returns (status, envelope)."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{sim.url}/_hsmsim/clusters/{cluster_id}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def login(sim: Any, cluster_id: str, username: str, password: str, role: str) -> tuple[int, Any]:
    return plane(sim, cluster_id, "POST", "/login", {"username": username, "password": password, "role": role})


def as_admin(sim: Any, cluster_id: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, envelope = login(sim, cluster_id, *ADMIN, "admin")
    assert status == 200, envelope
    token = envelope["token"]
    try:
        return plane(sim, cluster_id, method, path, body, token)
    finally:
        plane(sim, cluster_id, "POST", "/logout", {}, token)


def create_kmsuser(sim: Any, cluster_id: str, password: str = KMSUSER_PASSWORD) -> None:
    status, body = as_admin(sim, cluster_id, "POST", "/users",
                            {"username": "kmsuser", "role": "crypto-user", "password": password})
    assert status == 200, body


def set_kmsuser_password(sim: Any, cluster_id: str, password: str) -> tuple[int, Any]:
    return as_admin(sim, cluster_id, "POST", "/users/kmsuser/password", {"role": "crypto-user", "password": password})


def two_hsm_cluster(sim: Any, cloudhsm: Any) -> tuple[str, str]:
    """An ACTIVE cluster with ACTIVE HSMs in us-east-1a and us-east-1b; returns (cluster id, trust anchor PEM)."""
    ca = CustomerCA()
    cluster_id, _ = initialized_cluster(cloudhsm, ca)
    status, body = sim.control("POST", f"/_hsmsim/clusters/{cluster_id}/activate", {"password": ADMIN[1]})
    assert status == 200, body
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    hsms = describe(cloudhsm, cluster_id)["Hsms"]
    assert [h["State"] for h in hsms] == ["ACTIVE", "ACTIVE"], hsms
    return cluster_id, ca.pem


def store_state(kms: Any, store_id: str) -> dict[str, Any]:
    return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]


def connected_store(sim: Any, kms: Any, cloudhsm: Any, name: str = "store") -> tuple[str, str]:
    """A CONNECTED store on a fresh two-HSM cluster with kmsuser; returns (store id, cluster id)."""
    cluster_id, anchor = two_hsm_cluster(sim, cloudhsm)
    create_kmsuser(sim, cluster_id)
    store_id = kms.create_custom_key_store(CustomKeyStoreName=name, CloudHsmClusterId=cluster_id,
                                           TrustAnchorCertificate=anchor,
                                           KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id)["ConnectionState"] == "CONNECTED", store_state(kms, store_id)
    return store_id, cluster_id
