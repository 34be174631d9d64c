"""The building blocks of the pytest plugin, usable without pytest (unittest, scripts, notebooks).

::

    from hsmsim.testing import simulator

    with simulator() as sim:                       # a server of its own (or simulator(endpoint=URL))
        account = sim.account()                     # a fresh AWS account: sees only what it makes
        store = account.custom_key_store()          # CONNECTED, on an ACTIVE two-HSM cluster
        key = account.kms_key(store=store)          # a KMS key whose material lives in the HSMs
        account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hi")
        with account.hsm_session(store.cluster) as session:  # PKCS#11 as the cluster's crypto user
            ...

:func:`simulator` starts ``hsmsim serve`` (:class:`~hsmsim.testing.server.ServerProcess`) on a temporary data dir,
or attaches to a running server, and stops what it started. A :class:`Simulation` hands out :class:`Account` s:
each is an AWS account id used as the access key (hsmsim takes a 12-digit access key as the account:
:mod:`hsmsim.aws.sigv4`), so accounts never see each other's clusters, keys or stores, on a shared server too.
Clusters are made by :mod:`hsmsim.testing.clusters` (the first of an account restored from a backup of a
template cluster, which the simulation makes once in an account of its own); stores and keys through the KMS API
(https://docs.aws.amazon.com/kms/latest/developerguide/create-keystore.html, ConnectCustomKeyStore).
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import threading
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from hsmsim.aws.sigv4 import is_account_id
from hsmsim.testing.clusters import (
    HsmCluster,
    Scope,
    SetupError,
    Template,
    from_scratch,
)
from hsmsim.testing.server import ServerProcess, check_endpoint, request_json

REGION = "us-east-1"
SECRET_KEY = "hsmsim-testing-secret"  # hsmsim does not verify signatures
DELAYS = ("instant", "fast", "realistic")


def new_account_id() -> str:
    """A random 12-digit AWS account id (never starting with 0, so never the default 000000000000)."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def check_account_id(account_id: str) -> str:
    if not is_account_id(account_id):
        raise ValueError(f"an AWS account id is 12 digits, not {account_id!r}")
    return account_id


class KeyStore:
    """A custom key store of type AWS_CLOUDHSM and the cluster behind it."""

    def __init__(self, custom_key_store_id: str, name: str, cluster: HsmCluster) -> None:
        self.custom_key_store_id, self.name, self.cluster = custom_key_store_id, name, cluster

    def __repr__(self) -> str:
        return f"<KeyStore {self.custom_key_store_id} {self.name!r} on {self.cluster.cluster_id}>"


def default_usage(key_spec: str) -> str | None:
    """The KeyUsage to send when none is given: KMS requires one for every spec but SYMMETRIC_DEFAULT; the spec's
    first usage in :data:`kms.crypto.specs.SPECS` (ENCRYPT_DECRYPT for RSA and SM2, SIGN_VERIFY for ECC and ML-DSA,
    GENERATE_VERIFY_MAC for HMAC, ENCAPSULATE_DECAPSULATE for ML-KEM). None for SYMMETRIC_DEFAULT or an unknown
    spec (KMS then answers for itself)."""
    from kms.crypto.specs import SPECS
    from kms.enums import KeySpec

    if key_spec == "SYMMETRIC_DEFAULT" or key_spec not in KeySpec.__members__:
        return None
    return next(iter(SPECS[KeySpec(key_spec)].usages)).value


class Account:
    """One AWS account on the simulation: boto3 clients, and factories of clusters, stores, keys and sessions."""

    def __init__(self, simulation: Simulation, account_id: str, region: str = REGION) -> None:
        self.simulation, self.account_id, self.region = simulation, check_account_id(account_id), region
        self.endpoint = simulation.endpoint
        self._restored = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Account {self.account_id} {self.region} on {self.endpoint}>"

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client of this account (``config``: botocore Config options, e.g. ``parameter_validation``)."""
        options = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 10, "read_timeout": 120,
                   **config}
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.account_id, aws_secret_access_key=SECRET_KEY,
                            config=BotoConfig(**options))

    @cached_property
    def kms(self) -> Any:
        return self.client("kms")

    @cached_property
    def cloudhsmv2(self) -> Any:
        return self.client("cloudhsmv2")

    def environment(self) -> dict[str, str]:
        """What code that builds its own boto3 clients needs in ``os.environ`` to land in this account."""
        return {"AWS_ENDPOINT_URL_KMS": self.endpoint, "AWS_ENDPOINT_URL_CLOUDHSM_V2": self.endpoint,
                "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
                "AWS_ACCESS_KEY_ID": self.account_id, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def cluster(self, hsms: int = 2, *, from_backup: bool | None = None) -> HsmCluster:
        """An ACTIVE cluster with ``hsms`` (1-6) ACTIVE HSMs in distinct zones, the admin activated, ``kmsuser`` and
        the crypto user ``appuser`` created. The account's first cluster is restored from the simulation's
        template backup (fast); later ones are made from scratch, so that no two clusters of an account share a
        backup history (KMS lets only one of a related set back a key store). ``from_backup`` forces either."""
        scope = Scope(self.cloudhsmv2, self.endpoint, self.account_id, self.region)
        with self._lock:
            first = not self._restored and self.simulation.use_template
            restore = first if from_backup is None else from_backup
            if restore:
                self._restored = True
        if not restore:
            return from_scratch(scope, hsms)
        template, owner = self.simulation.template()
        template.share_with(owner, self.account_id)
        return template.restore(scope, hsms)

    def custom_key_store(self, cluster: HsmCluster | None = None, *, name: str | None = None,
                         connect: bool = True) -> KeyStore:
        """An AWS_CLOUDHSM key store on ``cluster`` (default: a new two-HSM cluster), CONNECTED unless
        ``connect=False`` (then DISCONNECTED)."""
        cluster = cluster or self.cluster(2)
        name = name or f"store-{secrets.token_hex(4)}"
        store_id = self.kms.create_custom_key_store(
            CustomKeyStoreName=name, CloudHsmClusterId=cluster.cluster_id, TrustAnchorCertificate=cluster.trust_anchor_pem,
            KeyStorePassword=cluster.kmsuser.password)["CustomKeyStoreId"]
        store = KeyStore(store_id, name, cluster)
        if connect:
            self.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
            self._settle_connected(store_id)
        return store

    def _settle_connected(self, store_id: str) -> None:
        step = 0.1
        for _ in range(40):
            view = self.kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
            if view["ConnectionState"] == "CONNECTED":
                return
            if view["ConnectionState"] != "CONNECTING":
                raise SetupError(f"custom key store {store_id} is {view['ConnectionState']} "
                                 f"({view.get('ConnectionErrorCode')}), not CONNECTED")
            self.simulation.advance(step)
            step = min(step * 2, 1200.0)
        raise SetupError(f"custom key store {store_id} did not connect")

    def kms_key(self, key_spec: str = "SYMMETRIC_DEFAULT", *, key_usage: str | None = None,
                store: KeyStore | None = None, **create_key: Any) -> dict[str, Any]:
        """CreateKey's ``KeyMetadata`` for ``key_spec`` (``key_usage`` defaults to one the spec accepts); with
        ``store``, a key of that custom key store (origin AWS_CLOUDHSM; SYMMETRIC_DEFAULT only, as in AWS)."""
        arguments: dict[str, Any] = {"KeySpec": key_spec, **create_key}
        usage = key_usage or default_usage(key_spec)
        if usage:
            arguments["KeyUsage"] = usage
        if store is not None:
            arguments.update(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store.custom_key_store_id)
        return self.kms.create_key(**arguments)["KeyMetadata"]

    def release_hsms(self) -> int:
        """Disconnect the account's CONNECTED stores and delete every HSM of its clusters (what a customer does to
        stop paying): the server then holds no token for them, so later tests do not pay for ever more tokens.
        Everything else (clusters, backups, keys, stores) stays. Returns the number of HSMs deleted."""
        for store in self.kms.describe_custom_key_stores()["CustomKeyStores"]:
            if store["ConnectionState"] == "CONNECTED":
                self.kms.disconnect_custom_key_store(CustomKeyStoreId=store["CustomKeyStoreId"])
        deleted = 0
        for cluster in self.cloudhsmv2.describe_clusters()["Clusters"]:
            for hsm in cluster["Hsms"]:
                if hsm["State"] in ("ACTIVE", "DEGRADED"):
                    self.cloudhsmv2.delete_hsm(ClusterId=cluster["ClusterId"], HsmId=hsm["HsmId"])
                    deleted += 1
        return deleted

    def hsm_session(self, cluster: HsmCluster, pin: str | None = None) -> Any:
        """``hsmsim.connect``: a PKCS#11 session on the cluster as its crypto user (``pin``: another one).
        Loads SoftHSM in this process over the server's tokens, so the server must run on this machine."""
        from hsmsim.pkcs11_app import connect

        return connect(self.endpoint, cluster.cluster_id, pin or cluster.crypto_user.pin)


class Simulation:
    """An hsmsim server (started here, ``server``, or reached at ``endpoint``) and the accounts used on it."""

    def __init__(self, endpoint: str, server: ServerProcess | None = None, region: str = REGION) -> None:
        self.endpoint, self.server, self.region = endpoint.rstrip("/"), server, region
        self._template: tuple[Template, Scope] | None = None
        self.use_template = True  # False: every cluster from scratch (after a reset the template would be gone)
        self._lock = threading.Lock()

    def account(self, account_id: str | None = None) -> Account:
        """The account ``account_id``, or a fresh random one."""
        return Account(self, account_id or new_account_id(), self.region)

    def template(self) -> tuple[Template, Scope]:
        """The template backup (made on first use, in an account of its own) and its owner's scope."""
        with self._lock:
            if self._template is None:
                owner = self.account()
                scope = Scope(owner.cloudhsmv2, self.endpoint, owner.account_id, self.region)
                self._template = (Template.make(scope), scope)
            return self._template

    def forget_template(self) -> None:
        """After a reset the template is gone: the next restore makes a new one."""
        with self._lock:
            self._template = None

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return request_json(self.endpoint + path, method, body)

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulated clock forward (the whole server's: every account sees it); returns the new now."""
        status, body = self.control("POST", "/_hsmsim/clock", {"advance_seconds": seconds})
        if status != 200:
            raise ValueError(f"advancing the clock by {seconds!r} failed: {body}")
        return body

    def now(self) -> str:
        """The simulated now (ISO 8601)."""
        return self.control("GET", "/_hsmsim/clock")[1]["now"]

    def reset(self) -> None:
        """Wipe the whole server (every account): only for a server of one's own."""
        status, body = self.control("POST", "/_hsmsim/reset")
        if status != 200:
            raise RuntimeError(f"reset failed: {body}")
        self.forget_template()


def serve_args(delays: str = "instant", default_account: str | None = None) -> list[str]:
    if delays not in DELAYS:
        raise ValueError(f"delays must be one of {', '.join(DELAYS)}, not {delays!r}")
    args = ["--delays", delays]
    if default_account is not None:
        args += ["--default-account", check_account_id(default_account)]
    return args


@contextlib.contextmanager
def simulator(endpoint: str | None = None, *, delays: str = "instant", default_account: str | None = None,
              data_dir: Path | None = None) -> Iterator[Simulation]:
    """A :class:`Simulation`: on the server at ``endpoint`` if given (checked, never stopped here), otherwise on
    a new ``hsmsim serve`` with ``--delays delays`` and ``--default-account default_account`` on ``data_dir``
    (default: a temporary dir, removed afterwards), stopped on exit. Raises
    :class:`~hsmsim.testing.server.ServerStartError` with what to install or change if no server can be had."""
    if endpoint is not None:
        check_endpoint(endpoint)
        yield Simulation(endpoint)
        return
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hsmsim-"))) / "data"
        server = ServerProcess(data_dir, serve_args(delays, default_account))
        stack.enter_context(server)
        yield Simulation(server.url, server)
