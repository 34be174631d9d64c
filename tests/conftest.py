"""Shared fixtures: a real hsmsim server process on loopback, driven by boto3.

The server runs as a subprocess (``python -m hsmsim serve``) so that the test process never shares its
PKCS#11 library with it and a restart test can stop and start it for real. One server serves the whole
session; each test starts from ``POST /_hsmsim/reset``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

ACCOUNT = "111122223333"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    data_dir: Path
    args: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir.parent / f"{self.data_dir.name}-server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hsmsim", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--log-level", "WARNING", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log.name}")
            try:
                self.control("GET", "/_hsmsim/health")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def advance(self, seconds: float) -> None:
        status, body = self.control("POST", "/_hsmsim/clock", {"advance_seconds": seconds})
        assert status == 200, body

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

    def tokens(self) -> dict[str, str]:
        """label -> serial of the tokens in the data dir, read by softhsm2-util (an independent reader)."""
        env = dict(os.environ, SOFTHSM2_CONF=str(self.data_dir / "softhsm2.conf"))
        out = subprocess.run(["softhsm2-util", "--show-slots"], env=env, capture_output=True, text=True, check=True).stdout
        found: dict[str, str] = {}
        serial = None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("Serial number:"):  # softhsm2-util prints a token's serial before its label
                serial = line.split(":", 1)[1].strip()
            elif line.startswith("Label:") and serial:
                found[line.split(":", 1)[1].strip()] = serial
                serial = None
        return found


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
