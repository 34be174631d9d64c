"""Shared fixtures: a real hsmsim server process on loopback, driven by boto3.

The server runs as a subprocess (:class:`hsmsim.testing.ServerProcess`, ``python -m hsmsim serve``) so that the test
process never shares its PKCS#11 library with it and a restart test can stop and start it for real. One server
serves the whole session; each test starts from ``POST /_hsmsim/reset``. (The hsmsim pytest plugin's fixtures,
``hsmsim_server`` & co., are loaded too; tests of the plugin itself are in test_pytest_plugin.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from hsmsim.testing import server as testing_server
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
