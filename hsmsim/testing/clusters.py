"""ACTIVE CloudHSM clusters for tests, made the way a customer makes them, through the AWS API.

From scratch (https://docs.aws.amazon.com/cloudhsm/latest/userguide/getting-started.html): CreateCluster ->
CreateHsm -> the customer CA (:class:`~hsmsim.testing.ca.CustomerCA`) signs the cluster CSR -> InitializeCluster
-> ``cluster activate`` (the admin's password) -> ``user create`` kmsuser and an application crypto user ->
CreateHsm in the other Availability Zones. Each new HSM costs a key pair and its certificates.

From a backup (https://docs.aws.amazon.com/cloudhsm/latest/userguide/create-cluster-from-backup.html), the fast
route: a *template* cluster made once from scratch in an account of its own leaves a backup (CreateHsm on an ACTIVE
cluster backs it up); each restore shares that backup with the caller's account through a backup resource policy
(PutResourcePolicy, https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_PutResourcePolicy.html), then
CreateCluster(SourceBackupId=<backup ARN>) -> ACTIVE with no HSMs -> CreateHsm per zone restores the backup's
users and keys. A restored cluster has the template's trust anchor, certificate and user passwords, and shares a
backup history with every other cluster restored from it (KMS lets only one of them back a custom key store per
account, so an :class:`~hsmsim.testing.simulation.Account` restores at most one cluster and makes the rest from
scratch).

The data-plane calls (activate, login, user create) are the CloudHSM CLI's, on ``/_hsmsim/clusters/{id}``
(:mod:`hsmsim.dataplane`). Passwords are random per template or cluster and never logged (``repr`` hides them).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from hsmsim.testing.ca import CustomerCA
from hsmsim.testing.server import request_json

ZONES = "abcdef"
HSM_TYPE = "hsm1.medium"
APP_USER = "appuser"


class SetupError(RuntimeError):
    """A step of making a cluster or a store did not give the documented result."""


@dataclass(frozen=True)
class HsmUser:
    """An HSM user; ``pin`` is the PKCS#11 PIN ``user:password`` (``hsmsim.connect(..., pin=user.pin)``)."""

    username: str
    role: str
    password: str = field(repr=False)

    @property
    def pin(self) -> str:
        return f"{self.username}:{self.password}"


@dataclass(frozen=True)
class HsmCluster:
    """An ACTIVE cluster: its ids, the trust anchor (the CA certificate, PEM) and its users' credentials."""

    cluster_id: str
    hsm_ids: tuple[str, ...]
    availability_zones: tuple[str, ...]
    trust_anchor_pem: str = field(repr=False)
    admin: HsmUser
    kmsuser: HsmUser
    crypto_user: HsmUser
    account_id: str
    region: str
    endpoint: str
    source_backup_id: str | None = None


@dataclass(frozen=True)
class Users:
    admin: HsmUser
    kmsuser: HsmUser
    crypto_user: HsmUser

    @staticmethod
    def random() -> Users:
        def password() -> str:
            return "Pw-" + secrets.token_urlsafe(12)  # 19 characters: within the CLI's 7-32

        return Users(HsmUser("admin", "admin", password()), HsmUser("kmsuser", "crypto-user", password()),
                     HsmUser(APP_USER, "crypto-user", password()))


def subnets(count: int) -> list[str]:
    """Subnet ids in ``count`` distinct zones (the id's last letter is the zone: :mod:`hsmsim.cloudhsm.network`)."""
    if not 1 <= count <= len(ZONES):
        raise ValueError(f"a cluster's HSMs go in distinct Availability Zones: 1 to {len(ZONES)} HSMs, not {count}")
    return [f"subnet-{secrets.token_hex(8)}{zone}" for zone in ZONES[:count]]


class DataPlane:
    """The CloudHSM CLI's calls on one cluster (``/_hsmsim/clusters/{id}``)."""

    def __init__(self, endpoint: str, cluster_id: str) -> None:
        self.base = f"{endpoint.rstrip('/')}/_hsmsim/clusters/{cluster_id}"

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """One call: (HTTP status, envelope); an error status is returned, not raised."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return request_json(self.base + path, method, body, headers=headers)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> dict[str, Any]:
        """One call that must succeed: its envelope (:class:`SetupError` otherwise)."""
        status, envelope = self.request(method, path, body, token)
        if status != 200:
            message = envelope.get("message") if isinstance(envelope, dict) else envelope
            raise SetupError(f"{method} {path} on the data plane failed: HTTP {status} {message}")
        return envelope

    def activate(self, admin: HsmUser) -> None:
        self.call("POST", "/activate", {"password": admin.password})

    def create_users(self, admin: HsmUser, *new: HsmUser) -> None:
        token = self.call("POST", "/login", {"username": admin.username, "password": admin.password,
                                              "role": "admin"})["token"]
        try:
            for user in new:
                self.call("POST", "/users", {"username": user.username, "role": user.role,
                                             "password": user.password}, token)
        finally:
            self.call("POST", "/logout", {}, token)


@dataclass(frozen=True)
class Scope:
    """Where clusters are made: a boto3 ``cloudhsmv2`` client of ``account_id`` in ``region`` on ``endpoint``."""

    cloudhsm: Any
    endpoint: str
    account_id: str
    region: str

    def describe(self, cluster_id: str) -> dict[str, Any]:
        return self.cloudhsm.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"][0]

    def advance(self, seconds: float) -> None:
        status, body = request_json(f"{self.endpoint.rstrip('/')}/_hsmsim/clock", "POST", {"advance_seconds": seconds})
        if status != 200:
            raise SetupError(f"advancing the simulated clock failed: {body}")

    def settle(self, cluster_id: str, state: str) -> dict[str, Any]:
        """The cluster once it is in ``state`` with every HSM ACTIVE. Under ``--delays fast|realistic`` the
        provisioning steps take simulated time: the simulated clock is advanced (doubling steps from 0.1 s,
        at most 40 of them) until they are done."""
        step = 0.1
        for _ in range(40):
            cluster = self.describe(cluster_id)
            hsm_states = {h["State"] for h in cluster["Hsms"]}
            if cluster["State"] == state and hsm_states <= {"ACTIVE"}:
                return cluster
            if cluster["State"] not in TRANSIENT and not hsm_states & {"CREATE_IN_PROGRESS"}:
                break
            self.advance(step)
            step = min(step * 2, 1200.0)
        raise SetupError(f"cluster {cluster_id} is {cluster['State']} with HSMs {sorted(hsm_states)}, not {state} "
                         "with ACTIVE HSMs")

    def result(self, cluster_id: str, users: Users, anchor: str) -> HsmCluster:
        cluster = self.settle(cluster_id, "ACTIVE")
        hsms = cluster["Hsms"]
        return HsmCluster(cluster_id, tuple(h["HsmId"] for h in hsms), tuple(h["AvailabilityZone"] for h in hsms),
                          anchor, users.admin, users.kmsuser, users.crypto_user, self.account_id, self.region,
                          self.endpoint, cluster.get("SourceBackupId"))


TRANSIENT = {"CREATE_IN_PROGRESS", "INITIALIZE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "MODIFY_IN_PROGRESS"}


def from_scratch(scope: Scope, hsms: int, users: Users | None = None, *,
                 create: tuple[HsmUser, ...] | None = None) -> HsmCluster:
    """An ACTIVE cluster with ``hsms`` HSMs in distinct zones, the admin activated, kmsuser and appuser made.
    ``create``: the users made after activation instead (``()``: none, as when a test makes its own; the result
    still names ``users``)."""
    users = users or Users.random()
    create = (users.kmsuser, users.crypto_user) if create is None else create
    ca = CustomerCA()
    cloudhsm = scope.cloudhsm
    cluster_id = cloudhsm.create_cluster(HsmType=HSM_TYPE, SubnetIds=subnets(max(hsms, 2)))["Cluster"]["ClusterId"]
    scope.settle(cluster_id, "UNINITIALIZED")
    zones = [f"{scope.region}{z}" for z in ZONES[:hsms]]
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zones[0])
    csr = scope.settle(cluster_id, "UNINITIALIZED")["Certificates"]["ClusterCsr"]
    cloudhsm.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(csr), TrustAnchor=ca.pem)
    scope.settle(cluster_id, "INITIALIZED")
    plane = DataPlane(scope.endpoint, cluster_id)
    plane.activate(users.admin)
    if create:
        plane.create_users(users.admin, *create)
    for zone in zones[1:]:
        cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zone)
    return scope.result(cluster_id, users, ca.pem)


@dataclass(frozen=True)
class Template:
    """A backup of an ACTIVE cluster with users, in an account of its own, to restore clusters from."""

    backup_arn: str
    account_id: str
    trust_anchor_pem: str = field(repr=False)
    users: Users = field(repr=False)

    @staticmethod
    def make(scope: Scope) -> Template:
        """A two-HSM cluster: its second CreateHsm backs up the first HSM, users included."""
        cluster = from_scratch(scope, 2)
        step = 0.1
        for _ in range(40):
            backups = scope.cloudhsm.describe_backups(Filters={"clusterIds": [cluster.cluster_id]})["Backups"]
            ready = [b for b in backups if b["BackupState"] == "READY"]
            if ready:
                users = Users(cluster.admin, cluster.kmsuser, cluster.crypto_user)
                return Template(ready[0]["BackupArn"], scope.account_id, cluster.trust_anchor_pem, users)
            if not backups:
                break
            scope.advance(step)
            step = min(step * 2, 1200.0)
        raise SetupError(f"the template cluster {cluster.cluster_id} has no READY backup")

    def share_with(self, owner: Scope, account_id: str) -> None:
        """The backup resource policy that lets ``account_id`` create clusters from the backup (only it)."""
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "hsmsim-testing", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": ["cloudhsm:CreateCluster", "cloudhsm:DescribeBackups"], "Resource": self.backup_arn}]}
        owner.cloudhsm.put_resource_policy(ResourceArn=self.backup_arn, Policy=json.dumps(policy))

    def restore(self, scope: Scope, hsms: int) -> HsmCluster:
        """CreateCluster(SourceBackupId) -> ACTIVE with no HSMs -> CreateHsm per zone (restores the backup)."""
        cloudhsm = scope.cloudhsm
        cluster_id = cloudhsm.create_cluster(HsmType=HSM_TYPE, SubnetIds=subnets(max(hsms, 2)),
                                             SourceBackupId=self.backup_arn)["Cluster"]["ClusterId"]
        scope.settle(cluster_id, "ACTIVE")
        for zone in ZONES[:hsms]:
            cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=f"{scope.region}{zone}")
        return scope.result(cluster_id, self.users, self.trust_anchor_pem)
