#!/usr/bin/env python3
"""Loopback benchmark of KMS keys in an AWS CloudHSM custom key store, beside ordinary keys and moto's server.

The script starts hsmsim (temp data dir, ``--delays instant`` unless told) and moto's server on 127.0.0.1 and
stops them at the end. Before any timing it sets the scene on hsmsim with boto3 and the data plane: a cluster
(CreateCluster, CreateHsm in us-east-1a, the CSR signed by a test CA, InitializeCluster, activation through
``POST /_hsmsim/clusters/{id}/activate``) with a second HSM in us-east-1b, both ACTIVE; the crypto user
``kmsuser``; a custom key store on the cluster (CreateCustomKeyStore with the CA as trust anchor), connected;
a symmetric key in it (``Origin=AWS_CLOUDHSM``), an ordinary symmetric key (``AWS_KMS``) on the same server and
a symmetric key on moto. Timed requests are **signed once** with botocore's SigV4Auth (access key 111122223333 =
the account, us-east-1) and the same bytes are replayed (neither server verifies signatures or replays), as in
``bench_kms.py``.

1. **Throughput** of Encrypt (64-byte plaintext) and Decrypt (one ciphertext made once, no KeyId) with each of
   the three keys: ``--concurrency`` requests in flight over keep-alive connections for ``--duration`` seconds
   after a ``--warmup``, with an asyncio + aiohttp client and/or ``wrk`` (``--load``); the server pinned to one
   CPU and the load generator to another (``--no-pin`` shares them), waiting for an idle machine before each
   run (``--quiet``); ``--rounds`` rounds, each running every key, operation and client once (the median round
   reported). Targets: the custom-key-store key >= 8x moto, and >= 70 % of the AWS_KMS key on the same server.
2. **ConnectCustomKeyStore to CONNECTED**: ``--cycles`` cycles (after one untimed) of DisconnectCustomKeyStore,
   DescribeCustomKeyStores until DISCONNECTED, then the time from sending ConnectCustomKeyStore until
   DescribeCustomKeyStores (polled every ``--poll-interval`` s on the same keep-alive connection) shows
   ConnectionState CONNECTED. Target: median <= 50 ms.
3. **CreateKey(Origin=AWS_CLOUDHSM, CustomKeyStoreId=...)** in that store (its cluster has two ACTIVE HSMs),
   ``--creates`` sequential calls over one keep-alive connection after one untimed; every answer is checked
   (Origin, store, cluster, Enabled). Target: median <= 30 ms. CreateKey of an AWS_KMS key on hsmsim and on moto
   is reported for reference.

Every response status is checked: a throughput measurement with any non-200 answer is reported as invalid. If
the server answers the custom key store operations with UnsupportedOperationException, the table says so and the
other measurements still run.

Usage::

    .venv/bin/python scripts/bench_cks.py [--quick] [--out bench-cks.json] [--load aiohttp|wrk|both] ...

``--quick`` is a smoke run (1 s windows, one round, 5 cycles, 5 creates). Results are printed as a Markdown table
and written as JSON to ``--out``. Needs moto's server (``pip install -e '.[bench]'``) for the moto column.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # the scripts' shared process, machine, request and load helpers
from benchlib import (
    HOST,
    KMS,
    PLAINTEXT,
    Server,
    Signed,
    add_load_arguments,
    boto_client,
    check_answers,
    check_load_arguments,
    crypto_requests,
    end_line,
    fmt_tp,
    invalid,
    kms_client,
    markdown_table,
    moto_executable,
    percentile,
    pinning_phrase,
    quiet,
    running,
    start_report,
    summary_ms,
    write_json,
)

from hsmsim.testing import CustomerCA

SUBNETS = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb"]
ADMIN_PASSWORD = "Admin-Pass-1"
KMSUSER_PASSWORD = "kmsuserPass1"
STORE_NAME = "bench"

VS_MOTO_FACTOR = 8.0
VS_AWS_KMS_SHARE = 0.70
CONNECT_TARGET_MS = 50.0
CREATE_TARGET_MS = 30.0
OPS = ("Encrypt", "Decrypt")

CKS, AWS_KMS, MOTO = "CloudHSM key store key", "AWS_KMS key", "moto"


class Unsupported(Exception):
    """The server does not implement custom key stores (UnsupportedOperationException)."""


def unsupported(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "UnsupportedOperationException"


def wait_for(check: Callable[[], Any], what: str, deadline_s: float, interval_s: float = 0.002) -> Any:
    """Call ``check`` until it returns something truthy; raise after ``deadline_s``."""
    deadline = time.perf_counter() + deadline_s
    while True:
        if found := check():
            return found
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} not reached within {deadline_s} s")
        time.sleep(interval_s)


# -- the scene ---------------------------------------------------------------------------------------------


def plane(port: int, cluster_id: str, method: str, path: str, body: Any = None,
          token: str | None = None) -> dict[str, Any]:
    """One call of the cluster's data plane (``/_hsmsim/clusters/{id}``); the JSON envelope."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        conn.request(method, f"/_hsmsim/clusters/{cluster_id}{path}",
                     body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        envelope = json.loads(response.read() or b"{}")
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {response.status} {envelope}")
    return envelope


def two_hsm_cluster(server: Server, ca: CustomerCA, deadline_s: float) -> dict[str, Any]:
    """An ACTIVE cluster with ACTIVE HSMs in us-east-1a and us-east-1b and the crypto user ``kmsuser``."""
    client = boto_client("cloudhsmv2", server.url)
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS)["Cluster"]["ClusterId"]

    def cluster() -> dict[str, Any]:
        return client.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"][0]

    def in_state(state: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: (c := cluster())["State"] == state and c

    def hsms_active(count: int) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            c = cluster()
            hsms = c.get("Hsms", [])
            return len(hsms) == count and all(h["State"] == "ACTIVE" for h in hsms) and c
        return check

    wait_for(in_state("UNINITIALIZED"), "cluster UNINITIALIZED", deadline_s)
    client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    csr = wait_for(lambda: (hsms_active(1)() or {}).get("Certificates", {}).get("ClusterCsr"),
                   "first HSM ACTIVE with the cluster CSR", deadline_s)
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(csr), TrustAnchor=ca.pem)
    wait_for(in_state("INITIALIZED"), "cluster INITIALIZED", deadline_s)
    plane(server.port, cluster_id, "POST", "/activate", {"password": ADMIN_PASSWORD})
    wait_for(in_state("ACTIVE"), "cluster ACTIVE", deadline_s)
    client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    final = wait_for(hsms_active(2), "two ACTIVE HSMs", deadline_s)
    token = plane(server.port, cluster_id, "POST", "/login",
                  {"username": "admin", "password": ADMIN_PASSWORD, "role": "admin"})["token"]
    plane(server.port, cluster_id, "POST", "/users",
          {"username": "kmsuser", "role": "crypto-user", "password": KMSUSER_PASSWORD}, token)
    plane(server.port, cluster_id, "POST", "/logout", token=token)
    return {"cluster_id": cluster_id, "hsms": [(h["HsmId"], h["AvailabilityZone"], h["State"]) for h in final["Hsms"]]}


def connection_state(client: Any, store_id: str) -> dict[str, Any]:
    return client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]


def connected_store(server: Server, ca: CustomerCA, cluster_id: str, deadline_s: float) -> str:
    """CreateCustomKeyStore on the cluster, ConnectCustomKeyStore, DescribeCustomKeyStores until CONNECTED."""
    client = kms_client(server.url)
    try:
        store_id = client.create_custom_key_store(
            CustomKeyStoreName=STORE_NAME, CloudHsmClusterId=cluster_id, TrustAnchorCertificate=ca.pem,
            KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    except ClientError as error:
        if unsupported(error):
            raise Unsupported(f"CreateCustomKeyStore -> UnsupportedOperationException: "
                              f"{error.response['Error'].get('Message', '')}") from error
        raise
    client.connect_custom_key_store(CustomKeyStoreId=store_id)

    def is_connected() -> bool:
        store = connection_state(client, store_id)
        if store["ConnectionState"] == "FAILED":
            raise RuntimeError(f"custom key store FAILED to connect: {store.get('ConnectionErrorCode')}")
        return store["ConnectionState"] == "CONNECTED"

    wait_for(is_connected, "custom key store CONNECTED", deadline_s)
    return store_id


def symmetric_key(server: Server, **create: Any) -> tuple[str, bytes, dict[str, Any]]:
    client = kms_client(server.url)
    meta = client.create_key(**create)["KeyMetadata"]
    ciphertext = client.encrypt(KeyId=meta["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    return meta["KeyId"], ciphertext, meta


def key_requests(server: Server, key_id: str, ciphertext: bytes) -> dict[str, Signed]:
    requests = crypto_requests(server.port, key_id, ciphertext)
    check_answers(server.port, requests, key_id)
    return requests


# -- 2. connect cycles -------------------------------------------------------------------------------------


class Conn:
    """Signed requests over one keep-alive connection; the decoded answers (non-200 raises)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def send(self, request: Signed) -> dict[str, Any]:
        self.conn.request("POST", "/", body=request.body, headers=request.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{request.operation}: HTTP {response.status}: {data[:300]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


def bench_connect(server: Server, store_id: str, cycles: int, interval_s: float, deadline_s: float) -> dict[str, Any]:
    """``cycles`` timed cycles (one untimed first): disconnect, poll until DISCONNECTED; then the time from sending
    ConnectCustomKeyStore until DescribeCustomKeyStores shows CONNECTED."""
    def signed(operation: str) -> Signed:
        return benchlib.sign(KMS, server.port, operation, {"CustomKeyStoreId": store_id})

    connect, disconnect, describe = (signed(op) for op in ("ConnectCustomKeyStore", "DisconnectCustomKeyStore",
                                                           "DescribeCustomKeyStores"))
    conn = Conn(server.port)

    def poll(state: str) -> int:
        polls = 0
        deadline = time.perf_counter() + deadline_s
        while True:
            polls += 1
            store = conn.send(describe)["CustomKeyStores"][0]
            if store["ConnectionState"] == state:
                return polls
            if store["ConnectionState"] == "FAILED":
                raise RuntimeError(f"custom key store FAILED: {store.get('ConnectionErrorCode')}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{state} not reached within {deadline_s} s ({store['ConnectionState']})")
            time.sleep(interval_s)

    totals, calls, polls, disconnects = [], [], [], []
    try:
        for i in range(cycles + 1):
            began = time.perf_counter()
            conn.send(disconnect)
            poll("DISCONNECTED")
            disconnected = time.perf_counter() - began
            began = time.perf_counter()
            conn.send(connect)
            answered = time.perf_counter() - began
            n = poll("CONNECTED")
            elapsed = time.perf_counter() - began
            if i:  # the first cycle is a warm-up
                totals.append(elapsed)
                calls.append(answered)
                polls.append(n)
                disconnects.append(disconnected)
    finally:
        conn.close()
    return {**summary_ms(totals), "connect_call": summary_ms(calls), "disconnect_to_disconnected": summary_ms(disconnects),
            "polls": {"median": percentile(polls, 50), "min": min(polls), "max": max(polls)},
            "poll_interval_s": interval_s}


# -- 3. CreateKey ------------------------------------------------------------------------------------------


def bench_create(server: Server, params: dict[str, Any], calls: int,
                 check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """``calls`` sequential CreateKey requests (one untimed first) over one keep-alive connection; each answer is
    checked."""
    request = benchlib.sign(KMS, server.port, "CreateKey", params)
    conn = Conn(server.port)
    times = []
    try:
        for i in range(calls + 1):
            began = time.perf_counter()
            meta = conn.send(request)["KeyMetadata"]
            elapsed = time.perf_counter() - began
            if not check(meta):
                raise RuntimeError(f"unexpected CreateKey answer on {server.name}: {meta!r}")
            if i:
                times.append(elapsed)
    finally:
        conn.close()
    return summary_ms(times)


# -- report ------------------------------------------------------------------------------------------------


Row = tuple[str, str, str, str, str, str]


def throughput_rows(tp: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for op in OPS:
        for client, cks in tp[CKS][op].items():
            ref, peer = tp[AWS_KMS][op][client], tp.get(MOTO, {}).get(op, {}).get(client)
            parts, met = [], not invalid(cks)
            if peer and not invalid(peer):
                ratio = cks["rps"] / peer["rps"]
                parts.append(f"{ratio:.1f}× moto")
                met = met and ratio >= VS_MOTO_FACTOR
            else:
                parts.append("no valid moto figure")
            if not invalid(ref):
                share = cks["rps"] / ref["rps"]
                parts.append(f"{share:.0%} of the AWS_KMS key")
                met = met and share >= VS_AWS_KMS_SHARE
            else:
                parts.append("no valid AWS_KMS figure")
            complete = not invalid(cks) and len(parts) == 2 and not parts[0].startswith("no ") \
                and not parts[1].startswith("no ")
            verdict = ("met" if met and complete else "n/a" if met else "**missed**") + f" ({'; '.join(parts)})"
            rounds = len(cks["rounds"])
            label = (f"{op} throughput, req/s" + (f" median (min–max) of {rounds} runs" if rounds > 1 else "")
                     + f", {cks['concurrency']} in flight, {client} client")
            rows.append((label, fmt_tp(cks), fmt_tp(ref), fmt_tp(peer) if peer else "—",
                         f"≥ {VS_MOTO_FACTOR:.0f}× moto and ≥ {VS_AWS_KMS_SHARE:.0%} of the AWS_KMS key", verdict))
    return rows


def trio(s: dict[str, Any]) -> str:
    return f"{s['median_ms']:.1f} / {s['p90_ms']:.1f} / {s['min_ms']:.1f}"


def markdown(results: dict[str, Any]) -> str:
    rows: list[Row] = [("Metric", f"hsmsim, {CKS}", f"hsmsim, {AWS_KMS}", "moto", "Target", "Verdict")]
    cks = results["cks"]
    tp = results["throughput"]
    if isinstance(cks, dict):
        rows += throughput_rows(tp)
    else:
        for op in OPS:
            for client, ref in tp[AWS_KMS][op].items():
                peer = tp.get(MOTO, {}).get(op, {}).get(client)
                rows.append((f"{op} throughput, req/s, {ref['concurrency']} in flight, {client} client",
                             str(cks).replace("|", "/"), fmt_tp(ref), fmt_tp(peer) if peer else "—",
                             f"≥ {VS_MOTO_FACTOR:.0f}× moto and ≥ {VS_AWS_KMS_SHARE:.0%} of the AWS_KMS key", "n/a"))
    creates = results["create_reference"]
    if isinstance(cks, dict):
        con, cre = cks["connect"], cks["create"]
        polls = con["polls"]
        connect_label = ("ConnectCustomKeyStore → CONNECTED (DescribeCustomKeyStores polled), ms median / p90 / min "
                         f"(n={con['n']} cycles)")
        parts_label = ("of which the ConnectCustomKeyStore call, ms median; DescribeCustomKeyStores polls per "
                       "connect, median (min–max)")
        parts = f"{con['connect_call']['median_ms']:.1f}; {polls['median']:g} ({polls['min']}–{polls['max']})"
        create_label = f"CreateKey, ms median / p90 / min (n={cre['n']}; store's cluster: {cks['active_hsms']} ACTIVE HSMs)"
        rows += [
            (connect_label, trio(con), "—", "—", f"median ≤ {CONNECT_TARGET_MS:.0f} ms",
             "met" if con["median_ms"] <= CONNECT_TARGET_MS else "**missed**"),
            (parts_label, parts, "—", "—", "", ""),
            ("DisconnectCustomKeyStore → DISCONNECTED, ms median",
             f"{con['disconnect_to_disconnected']['median_ms']:.1f}", "—", "—", "", ""),
            (create_label, trio(cre), trio(creates[AWS_KMS]) + " (reference)",
             (trio(creates[MOTO]) + " (reference)") if MOTO in creates else "—",
             f"median ≤ {CREATE_TARGET_MS:.0f} ms", "met" if cre["median_ms"] <= CREATE_TARGET_MS else "**missed**"),
        ]
    else:
        rows += [
            ("ConnectCustomKeyStore → CONNECTED, ms median", str(cks).replace("|", "/"), "—", "—",
             f"median ≤ {CONNECT_TARGET_MS:.0f} ms", "n/a"),
            ("CreateKey, ms median / p90 / min", "not measured (see above)", trio(creates[AWS_KMS]) + " (reference)",
             (trio(creates[MOTO]) + " (reference)") if MOTO in creates else "—",
             f"median ≤ {CREATE_TARGET_MS:.0f} ms", "n/a"),
        ]
    text = markdown_table(rows)
    if not isinstance(results.get("moto"), dict):
        text += f"\n\nmoto: {results.get('moto')}"
    return text


# -- main --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-cks.json"), help="JSON results path")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s windows, 1 round, 5 cycles, 5 creates")
    add_load_arguments(parser)
    parser.add_argument("--delays", choices=("instant", "fast"), default="instant",
                        help="hsmsim's delay profile (default instant; realistic takes simulated minutes a step)")
    parser.add_argument("--cycles", type=int, help="timed disconnect/connect cycles (default 20)")
    parser.add_argument("--poll-interval", type=float, default=0.002,
                        help="pause between DescribeCustomKeyStores polls, s (default 0.002)")
    parser.add_argument("--creates", type=int, help="timed CreateKey calls in the store (default 30)")
    parser.add_argument("--poll-deadline", type=float, default=60.0, help="longest wait for a state, s")
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    args.cycles = args.cycles or (5 if args.quick else 20)
    args.creates = args.creates or (5 if args.quick else 30)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine, vers, pin = start_report("hsmsim custom key store benchmark", args.pin)
    print(f"- load: {args.load}, {args.concurrency} in flight, {args.warmup:g} s warm-up + {args.duration:g} s, "
          f"{args.rounds} rounds; {args.cycles} connect cycles; {args.creates} CreateKey calls; delays {args.delays}; "
          + pinning_phrase(pin) + "\n", flush=True)

    results: dict[str, Any] = {}
    exe = moto_executable()
    with tempfile.TemporaryDirectory(prefix="bench-cks-") as tmp:
        workdir = Path(tmp)
        sim = benchlib.hsmsim_server(workdir / "data", prefix=pin, extra=["--delays", args.delays])
        moto = benchlib.moto_server(workdir / "moto.log", prefix=pin) if exe else None
        with running(sim), (running(moto) if moto else nullcontext()):
            print("hsmsim: cluster with two HSMs, kmsuser, custom key store ...", file=sys.stderr, flush=True)
            ca = CustomerCA()
            scene = two_hsm_cluster(sim, ca, args.poll_deadline)
            targets: list[tuple[str, Server, dict[str, Signed]]] = []
            try:
                store_id = connected_store(sim, ca, scene["cluster_id"], args.poll_deadline)
                key_id, ciphertext, meta = symmetric_key(sim, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)
                if meta.get("CustomKeyStoreId") != store_id or meta.get("Origin") != "AWS_CLOUDHSM":
                    raise RuntimeError(f"CreateKey in the store answered {meta!r}")
                targets.append((CKS, sim, key_requests(sim, key_id, ciphertext)))
                results["cks"] = {"cluster": scene, "store_id": store_id, "key_id": key_id}
            except Unsupported as why:
                results["cks"] = f"not implemented by this hsmsim ({why})"
                print(f"  {results['cks']}", file=sys.stderr, flush=True)
            key_id, ciphertext, _meta = symmetric_key(sim)
            targets.append((AWS_KMS, sim, key_requests(sim, key_id, ciphertext)))
            if moto:
                key_id, ciphertext, _meta = symmetric_key(moto)
                targets.append((MOTO, moto, key_requests(moto, key_id, ciphertext)))
                results["moto"] = {"key_id": key_id}
            else:
                results["moto"] = "not installed (pip install -e '.[bench]')"

            print("1. throughput ...", file=sys.stderr, flush=True)
            results["throughput"] = benchlib.measure_throughput(targets, OPS, args, workdir)

            if isinstance(results["cks"], dict):
                cks = results["cks"]
                print(f"2. {args.cycles} disconnect/connect cycles ...", file=sys.stderr, flush=True)
                cks["connect"] = bench_connect(sim, cks["store_id"], args.cycles, args.poll_interval,
                                               args.poll_deadline)
                cluster = boto_client("cloudhsmv2", sim.url).describe_clusters(
                    Filters={"clusterIds": [scene["cluster_id"]]})["Clusters"][0]
                cks["active_hsms"] = sum(h["State"] == "ACTIVE" for h in cluster["Hsms"])
                if cks["active_hsms"] < 2:
                    raise RuntimeError(f"the store's cluster has {cks['active_hsms']} ACTIVE HSMs, not two")
                print(f"3. {args.creates} CreateKey calls in the store ...", file=sys.stderr, flush=True)
                quiet(args)
                cks["create"] = bench_create(
                    sim, {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": cks["store_id"]}, args.creates,
                    lambda m: (m.get("Origin") == "AWS_CLOUDHSM" and m.get("CustomKeyStoreId") == cks["store_id"]
                               and m.get("CloudHsmClusterId") == scene["cluster_id"] and m.get("KeyState") == "Enabled"))
            results["create_reference"] = {
                AWS_KMS: bench_create(sim, {}, args.creates, lambda m: m.get("Origin") == "AWS_KMS")}
            if moto:
                results["create_reference"][MOTO] = bench_create(moto, {}, args.creates,
                                                                  lambda m: m.get("Origin") == "AWS_KMS")

    report = markdown(results)
    print(report)
    print(end_line(machine))
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine, "versions": vers,
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {"vs_moto_factor": VS_MOTO_FACTOR, "vs_aws_kms_share": VS_AWS_KMS_SHARE,
                    "connect_median_ms": CONNECT_TARGET_MS, "create_median_ms": CREATE_TARGET_MS},
        "results": results, "markdown": report,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
