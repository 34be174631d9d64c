"""Shared fixtures: a real hsmsim server process on loopback, driven by boto3.

The server runs as a subprocess (:class:`hsmsim.testing.ServerProcess`, ``python -m hsmsim serve``) so that the test
process never shares its PKCS#11 library with it and a restart test can stop and start it for real.

* ``server``/``sim``/``kms``/``cloudhsm``: one server (raised quotas) for the session; each test starts from
  ``POST /_hsmsim/reset`` in account 111122223333. For tests that walk the AWS flows step by step, or need the
  fixed account, the reset or the raised quotas.
* The hsmsim pytest plugin's fixtures (``kms_client``, ``cloudhsm_cluster``, ``custom_key_store``, ``kms_key``,
  ``hsmsim_clock``...): a server of their own, each test in an account of its own. For tests that need only an
  ACTIVE cluster, a CONNECTED store or a key. ``process``, ``hsm_cluster``, ``cluster`` and ``admin_env`` below
  build on them for the tests of crypto users' keys. (Tests of the plugin itself are in test_pytest_plugin.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from hsmsim.testing import HsmCluster, HsmUser, Simulation
from hsmsim.testing import server as testing_server
from hsmsim.testing.clusters import DataPlane
from hsmsim.testing.server import free_port

ACCOUNT = "111122223333"
REGION = "us-east-1"

__all__ = ["ACCOUNT", "REGION", "ServerProcess", "free_port"]


class ServerProcess(testing_server.ServerProcess):
    """The package's server process, logging warnings only, with boto3 clients of the tests' accounts."""

    def __post_init__(self) -> None:
        self.args = ["--log-level", "WARNING", *self.args]
        super().__post_init__()

    def client(self, service: str, account: str = ACCOUNT, region: str = REGION, *, validate: bool = True) -> Any:
        """A boto3 client of ``account`` in ``region``; ``validate=False`` lets out-of-range values reach the
        server (as AWS's recordings were made)."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=account,
            aws_secret_access_key="secret",
            config=BotoConfig(parameter_validation=validate, retries={"max_attempts": 1, "mode": "standard"}),
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("server") / "data", args=["--max-clusters", "200", "--max-hsms", "50"])
    yield process.start()
    process.stop()


@pytest.fixture
def realistic(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own whose provisioning steps take AWS-like minutes of simulated time."""
    process = ServerProcess(tmp_path / "data", args=["--delays", "realistic"])
    yield process.start()
    process.stop()


@pytest.fixture
def sim(server: ServerProcess) -> ServerProcess:
    status, body = server.control("POST", "/_hsmsim/reset")
    assert status == 200, body
    return server


@pytest.fixture
def cloudhsm(sim: ServerProcess) -> Any:
    return sim.client("cloudhsmv2")


@pytest.fixture
def kms(sim: ServerProcess) -> Any:
    """A boto3 KMS client of ACCOUNT in REGION against a freshly reset server."""
    return sim.client("kms")


# -- crypto users' keys (test_cloudhsm_keys, test_pkcs11_app, test_cloudhsm_drift), on the plugin's fixtures ----------

CRYPTO_USERS = (HsmUser("alice", "crypto-user", "Alice-Pass-1"), HsmUser("bob", "crypto-user", "Bob-Pass-1"),
                HsmUser("admin2", "admin", "Admin2-Pass-1"))


@pytest.fixture
def process(hsmsim_server: Simulation) -> testing_server.ServerProcess:
    """The plugin's server process, for what reaches it from outside: its URL (``hsmsim cloudhsm-cli``, the
    PKCS#11 worker), its data dir (``pkcs11-tool`` on the tokens, the database) and its clock."""
    assert hsmsim_server.server is not None, "these tests read the server's data dir: run them without --hsmsim-endpoint"
    return hsmsim_server.server


@pytest.fixture
def hsm_cluster(cloudhsm_cluster: Any) -> HsmCluster:
    """The plugin's ACTIVE cluster with two ACTIVE HSMs, plus crypto users alice and bob and a second admin admin2
    (CRYPTO_USERS, passwords ``<Name>-Pass-1``)."""
    made = cloudhsm_cluster(2)
    assert len(made.hsm_ids) == 2, made
    DataPlane(made.endpoint, made.cluster_id).create_users(made.admin, *CRYPTO_USERS)
    return made


@pytest.fixture
def cluster(hsm_cluster: HsmCluster) -> str:
    """The id of ``hsm_cluster``."""
    return hsm_cluster.cluster_id


@pytest.fixture
def admin_env(hsm_cluster: HsmCluster) -> dict[str, str]:
    """``CLOUDHSM_ROLE``/``CLOUDHSM_PIN`` of ``hsm_cluster``'s admin (single command mode of the CLI)."""
    return {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": hsm_cluster.admin.pin}
