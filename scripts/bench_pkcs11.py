#!/usr/bin/env python3
"""Benchmark of the PKCS#11 application path (``hsmsim.connect``, issue item 6).

Starts an hsmsim server on 127.0.0.1 in a temp dir (stopped at the end), sets up an ACTIVE cluster with two ACTIVE
HSMs and a crypto user, then measures from this process (which never loads SoftHSM before ``connect``):

1. **Login through the data plane**: ``POST …/login`` of the crypto user over one keep-alive HTTP connection, N
   times (each followed by an untimed logout). Target: median <= 5 ms. Also reported: ``GET …/pkcs11/epoch`` and
   the whole ``hsmsim.connect()`` (login + ``…/pkcs11/connect`` + C_Login on a token) + ``close()``.
2. **AES-GCM 32-byte encryptions/s** through the ``AppSession``'s key (an :class:`hsmsim.pkcs11_app.AppKey`), one
   thread, this process pinned to one core, a fresh 12-byte IV per operation, for ``--seconds``. Target:
   >= 5,000/s. The same loop on the raw python-pkcs11 key object is reported for reference.

Usage: ``.venv/bin/python scripts/bench_pkcs11.py [--logins 50] [--seconds 5] [--out bench-pkcs11.json]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from hsmsim.testing import CustomerCA

HOST = "127.0.0.1"
USER, PASSWORD, ADMIN_PASSWORD = "benchuser", "Bench-Pass-1", "Admin-Pass-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Plane:
    """Keep-alive JSON client of one cluster's data plane."""

    def __init__(self, port: int, cluster_id: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.prefix = f"/_hsmsim/clusters/{cluster_id}"

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        self.conn.request(method, self.prefix + path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.conn.getresponse()
        envelope = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {envelope}")
        return envelope


def wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/_hsmsim/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the server did not start")
        time.sleep(0.1)


def active_cluster(url: str, port: int) -> str:
    """ACTIVE cluster, two ACTIVE HSMs, crypto user ``benchuser``."""
    client = boto3.client("cloudhsmv2", endpoint_url=url, region_name="us-east-1", aws_access_key_id="111122223333",
                          aws_secret_access_key="secret", config=BotoConfig(retries={"max_attempts": 1}))
    subnets = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb"]
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets)["Cluster"]["ClusterId"]

    def describe() -> dict[str, Any]:
        return client.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"][0]

    client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    ca = CustomerCA()
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(describe()["Certificates"]["ClusterCsr"]),
                              TrustAnchor=ca.pem)
    plane = Plane(port, cluster_id)
    plane.call("POST", "/activate", {"password": ADMIN_PASSWORD})
    client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    assert [h["State"] for h in describe()["Hsms"]] == ["ACTIVE", "ACTIVE"], describe()
    token = plane.call("POST", "/login", {"username": "admin", "password": ADMIN_PASSWORD, "role": "admin"})["token"]
    plane.call("POST", "/users", {"username": USER, "role": "crypto-user", "password": PASSWORD}, token)
    plane.call("POST", "/logout", token=token)
    return cluster_id


def ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median_ms": statistics.median(values) * 1e3, "p90_ms": values[int(0.9 * (len(values) - 1))] * 1e3,
            "min_ms": values[0] * 1e3, "n": len(values)}


def scrypt_verify(count: int = 10) -> dict[str, float]:
    """The password check every login makes (hsmsim.cloudhsm.passwords), in this process."""
    from hsmsim.cloudhsm.passwords import hash_password, verify_password

    stored, timings = hash_password(PASSWORD), []
    for _ in range(count):
        began = time.perf_counter()
        verify_password(PASSWORD, stored)
        timings.append(time.perf_counter() - began)
    return ms(timings)


def bench_logins(port: int, cluster_id: str, count: int) -> dict[str, Any]:
    plane, logins, epochs, floor = Plane(port, cluster_id), [], [], []
    body = {"username": USER, "password": PASSWORD, "role": "crypto-user"}
    token = plane.call("POST", "/login", body)["token"]  # warm-up
    plane.call("POST", "/logout", token=token)
    for _ in range(count):
        began = time.perf_counter()
        token = plane.call("POST", "/login", body)["token"]
        logins.append(time.perf_counter() - began)
        began = time.perf_counter()
        plane.call("GET", "/pkcs11/epoch", token=token)
        epochs.append(time.perf_counter() - began)
        plane.call("POST", "/logout", token=token)
        began = time.perf_counter()
        plane.call("GET", "/users")
        floor.append(time.perf_counter() - began)
    return {"login": ms(logins), "epoch": ms(epochs), "floor": ms(floor), "scrypt": scrypt_verify()}


def bench_app(url: str, cluster_id: str, connects: int, seconds: float) -> dict[str, Any]:
    from pkcs11 import KeyType, Mechanism
    from pkcs11.mechanisms import GCMParams

    import hsmsim

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, before SoftHSM is loaded
    pin = f"{USER}:{PASSWORD}"
    timings = []
    for _ in range(connects):
        began = time.perf_counter()
        hsmsim.connect(url, cluster_id, pin=pin).close()
        timings.append(time.perf_counter() - began)
    out: dict[str, Any] = {"connect_close": ms(timings)}
    with hsmsim.connect(url, cluster_id, pin=pin) as app:
        key = app.generate_key(KeyType.AES, 256, label="bench-aes")
        lookups = []
        for _ in range(connects):
            began = time.perf_counter()
            app.get_key(label="bench-aes")
            lookups.append(time.perf_counter() - began)
        out["get_key"] = ms(lookups)
        data = os.urandom(32)
        for name, target in (("appsession", key), ("raw python-pkcs11", key.raw)):
            encrypt, ops = target.encrypt, 0
            deadline = time.perf_counter() + seconds
            began = time.perf_counter()
            while time.perf_counter() < deadline:
                for _ in range(100):
                    encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(os.urandom(12)))
                ops += 100
            out[name] = {"ops_per_s": ops / (time.perf_counter() - began), "ops": ops}
        out["hsm"] = app.hsm_id
    return out


def markdown(results: dict[str, Any]) -> str:
    logins, app = results["logins"], results["app"]
    login, epoch = logins["login"], logins["epoch"]
    rows = [
        ("data-plane login (`POST …/login`), median",
         f"{login['median_ms']:.2f} ms (p90 {login['p90_ms']:.2f}, n={login['n']})", "≤ 5 ms",
         "met" if login["median_ms"] <= 5 else "NOT met"),
        ("scrypt check of a first login (in-process; repeated logins hit PasswordVerifier's memory), median",
         f"{logins['scrypt']['median_ms']:.2f} ms", "–", ""),
        ("data-plane floor (`GET …/users`, no login), median", f"{logins['floor']['median_ms']:.2f} ms", "–", ""),
        ("`GET …/pkcs11/epoch`, median", f"{epoch['median_ms']:.2f} ms", "–", ""),
        ("`AppSession.get_key(label=…)` (epoch check + C_FindObjects), median",
         f"{app['get_key']['median_ms']:.2f} ms", "–", ""),
        ("`hsmsim.connect()` + `close()`, median", f"{app['connect_close']['median_ms']:.2f} ms", "–", ""),
        ("AES-GCM 32 B encrypt via AppSession key, 1 core",
         f"{app['appsession']['ops_per_s']:,.0f}/s", "≥ 5,000/s",
         "met" if app["appsession"]["ops_per_s"] >= 5000 else "NOT met"),
        ("same, raw python-pkcs11 key (reference)", f"{app['raw python-pkcs11']['ops_per_s']:,.0f}/s", "–", ""),
    ]
    lines = ["| measurement | result | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--connects", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hsmsim-bench-pkcs11-") as tmp:
        data_dir, port = Path(tmp) / "data", free_port()
        data_dir.mkdir()
        url = f"http://{HOST}:{port}"
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed below
        server = subprocess.Popen([sys.executable, "-m", "hsmsim", "serve", "--host", HOST, "--port", str(port),
                                   "--data-dir", str(data_dir), "--log-level", "WARNING"],
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_healthy(port, server)
            cluster_id = active_cluster(url, port)
            results = {"logins": bench_logins(port, cluster_id, args.logins),
                       "app": bench_app(url, cluster_id, args.connects, args.seconds)}
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    print(markdown(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
