#!/usr/bin/env python3
"""Loopback speed benchmark of hsmsim's KMS API, with moto's server as the peer.

Every server is started by this script on 127.0.0.1 (hsmsim in a temp data dir) and stopped at the end. Keys are
made before any timing. boto3 spends about 1.8 ms of client CPU per call, which would hide the servers, so every
timed request is **signed once** with botocore's SigV4Auth (access key 111122223333 = the account, us-east-1,
signing name ``kms``) and the identical bytes are replayed (neither server verifies signatures or replays).

1. **Throughput** of Encrypt (64-byte plaintext), Decrypt (one ciphertext made once, no KeyId) and
   GenerateDataKey (KeySpec AES_256) on a symmetric key, with 10 keys in the account: an asyncio + aiohttp load
   generator keeps ``--concurrency`` requests in flight over keep-alive connections for ``--duration`` seconds
   after a ``--warmup``; requests completed inside the window count; ``--rounds`` rounds (interleaving the
   operations), the median round reported. The load generator runs on the same machine as the server: with two
   CPUs or more the server is pinned to one (``taskset``) and the load generator to another (``--no-pin``
   shares them), and before each run the script waits for the machine to be idle (``--quiet``). Both CPU uses
   are reported, and so is the server's CPU time per request (from /proc, independent of the client).
   ``--load wrk`` (or ``both``) drives the same requests with ``wrk`` (C, lighter) when it is installed.
   Target: >= 10x moto.
2. **Single-client latency** of the same operations and DescribeKey: one keep-alive ``http.client``
   connection, sequential, ``--calls`` calls after a warm-up; p50 / p90 / p99. Target: p50 <= 2 ms.
3. **10,000 keys** (``--keys``) in the account of a second server of the same kind, made with a pre-signed
   CreateKey replayed in parallel (time reported): Encrypt and DescribeKey single-client latency on a key made
   first on each server, the 10-key server and this one answering one request each in turn (so that bursts of
   outside load fall on both alike), ``--rounds`` x ``--calls`` calls each (target: p50 within 20 % of the
   10-key p50); ListKeys of every key, ``Limit=1000`` pages, sequentially, each page signed as it is sent
   (target <= 2 s; boto3's paginator reported for reference); Encrypt once with *every* key in turn (first pass:
   each key loaded from the database into the key cache; second pass: cached), then the server's RSS (VmRSS;
   target <= 300 MB). The same scenario runs against moto (``--no-moto-keys`` skips its part).

Every response status is checked: a measurement with any non-200 answer is reported as invalid.

Usage::

    .venv/bin/python scripts/bench_kms.py [--quick] [--out bench-kms.json] [--load aiohttp|wrk|both] ...

``--quick`` is a smoke run (short windows, 200 calls, 300 keys). Results are printed as a Markdown table and
written as JSON to ``--out``. Needs moto's server (``pip install -e '.[bench]'``) for the peer column.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cloudhsm import (  # the sibling script's process and machine helpers
    HOST,
    Server,
    free_port,
    machine_info,
    moto_executable,
    percentile,
    proc_status,
    running,
    versions,
)

ACCOUNT = "111122223333"
SECRET = "bench-secret"
REGION = "us-east-1"
SIGNING_NAME = "kms"
JSON_11 = "application/x-amz-json-1.1"
TARGET_PREFIX = "TrentService."
PLAINTEXT = bytes(range(64))

THROUGHPUT_FACTOR = 10.0
P50_TARGET_MS = 2.0
SCALE_TOLERANCE = 1.20
LISTKEYS_TARGET_S = 2.0
RSS_TARGET_MB = 300.0  # MB = 10**6 bytes, i.e. 286.1 MiB
LIST_PAGE = 1000
CRYPTO_OPS = ("Encrypt", "Decrypt", "GenerateDataKey")
SCALE_OPS = ("Encrypt", "DescribeKey")


# -- requests signed once ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    operation: str
    headers: dict[str, str]
    body: bytes


def sign(port: int, operation: str, params: dict[str, Any]) -> Signed:
    body = json.dumps(params).encode()
    request = AWSRequest(method="POST", url=f"http://{HOST}:{port}/", data=body,
                         headers={"Content-Type": JSON_11, "X-Amz-Target": TARGET_PREFIX + operation})
    SigV4Auth(Credentials(ACCOUNT, SECRET), SIGNING_NAME, REGION).add_auth(request)
    return Signed(operation, dict(request.headers.items()), body)


def send_once(port: int, request: Signed) -> dict[str, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", "/", body=request.body, headers=request.headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{request.operation}: HTTP {response.status}: {data[:300]!r}")
    return json.loads(data)


def kms_client(url: str) -> Any:
    return boto3.session.Session().client(
        "kms", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCOUNT, aws_secret_access_key=SECRET,
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}))


def crypto_requests(port: int, key_id: str, ciphertext: bytes) -> dict[str, Signed]:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return {
        "Encrypt": sign(port, "Encrypt", {"KeyId": key_id, "Plaintext": b64(PLAINTEXT)}),
        "Decrypt": sign(port, "Decrypt", {"CiphertextBlob": b64(ciphertext)}),
        "GenerateDataKey": sign(port, "GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"}),
        "DescribeKey": sign(port, "DescribeKey", {"KeyId": key_id}),
    }


def check_answers(port: int, requests: dict[str, Signed], key_id: str) -> None:
    """One untimed call of each request, checking that the answer is the real thing."""
    def expect(ok: bool, operation: str, answer: Any) -> None:
        if not ok:
            raise RuntimeError(f"unexpected {operation} answer: {answer!r}")

    enc = send_once(port, requests["Encrypt"])
    expect(key_id in enc["KeyId"] and len(base64.b64decode(enc["CiphertextBlob"])) > len(PLAINTEXT), "Encrypt", enc)
    dec = send_once(port, requests["Decrypt"])
    expect(base64.b64decode(dec["Plaintext"]) == PLAINTEXT and key_id in dec["KeyId"], "Decrypt", dec)
    gdk = send_once(port, requests["GenerateDataKey"])
    expect(len(base64.b64decode(gdk["Plaintext"])) == 32 and len(base64.b64decode(gdk["CiphertextBlob"])) > 32,
           "GenerateDataKey", gdk)
    meta = send_once(port, requests["DescribeKey"])["KeyMetadata"]
    expect(meta["KeyId"] == key_id and meta["KeyState"] == "Enabled", "DescribeKey", meta)


# -- load: aiohttp (default) or wrk --------------------------------------------------------------------------


async def _drive(server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float) -> dict:
    """``concurrency`` workers loop over the request; requests completed inside the timed window count."""
    assert server.process is not None
    loop = asyncio.get_running_loop()
    url = server.url + "/"
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    samples: dict[str, tuple[float, float, float]] = {}  # wall, server CPU, client CPU
    window_start = loop.time() + warmup_s
    window_end = window_start + duration_s

    def sample(name: str) -> None:
        samples[name] = (loop.time(), proc_status(server.process.pid)["cpu_s"], time.process_time())

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, window_start - loop.time()))
        sample("start")
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        sample("end")

    async def worker(session: aiohttp.ClientSession) -> None:
        while (began := loop.time()) < window_end:
            try:
                async with session.post(url, data=request.body, headers=request.headers) as response:
                    await response.read()
                    status = str(response.status)
            except (TimeoutError, aiohttp.ClientError) as error:
                status = type(error).__name__
            done = loop.time()
            if window_start <= done < window_end:
                statuses[status] += 1
                if began >= window_start:
                    latencies.append(done - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60),
                                     skip_auto_headers=("User-Agent",), auto_decompress=False) as session:
        await asyncio.gather(sampler(), *(worker(session) for _ in range(concurrency)))
    wall = samples["end"][0] - samples["start"][0]
    completed = sum(statuses.values())
    ok = statuses.get("200", 0)
    ms = [x * 1000 for x in latencies]
    return {
        "client": "aiohttp", "concurrency": concurrency, "duration_s": round(wall, 3),
        "requests": completed, "errors": completed - ok, "statuses": dict(statuses),
        "rps": round(ok / wall, 1),
        "loaded_p50_ms": round(percentile(ms, 50), 2), "loaded_p99_ms": round(percentile(ms, 99), 2),
        "server_cpu_us_per_req": round((samples["end"][1] - samples["start"][1]) / max(ok, 1) * 1e6, 1),
        "server_cpu_share": round((samples["end"][1] - samples["start"][1]) / wall, 2),
        "client_cpu_share": round((samples["end"][2] - samples["start"][2]) / wall, 2),
    }


def load_aiohttp(server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float) -> dict:
    return asyncio.run(_drive(server, request, concurrency, warmup_s, duration_s))


def wrk_script(request: Signed, path: Path) -> Path:
    headers = "\n".join(f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in request.headers.items()
                        if k.lower() not in ("host", "content-length"))
    path.write_text(f'wrk.method = "POST"\nwrk.body = [==[{request.body.decode()}]==]\n{headers}\n')
    return path


def _wrk(server: Server, script: Path, concurrency: int, seconds: float) -> str:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
            server.url + "/"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout


def load_wrk(server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float,
             workdir: Path) -> dict:
    assert server.process is not None
    script = wrk_script(request, workdir / f"{request.operation}.lua")
    _wrk(server, script, concurrency, warmup_s)
    cpu0, wall0 = proc_status(server.process.pid)["cpu_s"], time.perf_counter()
    out = _wrk(server, script, concurrency, duration_s)
    cpu1, wall = proc_status(server.process.pid)["cpu_s"], time.perf_counter() - wall0

    def grab(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, out)
        return match.group(1) if match else default

    completed = int(grab(r"(\d+) requests in"))
    non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)"))
    said = grab(r"Socket errors: ([^\n]*)", "")
    socket_errors = sum(int(x) for x in re.findall(r"\d+", said))
    return {
        "client": "wrk", "concurrency": concurrency, "duration_s": float(duration_s),
        "requests": completed, "errors": non2xx + socket_errors,
        "rps": round(float(grab(r"Requests/sec:\s+([\d.]+)")) * (completed - non2xx) / max(completed, 1), 1),
        "loaded_p50_ms": _wrk_ms(grab(r"50%\s+([\d.]+\w+)", "nan")),
        "loaded_p99_ms": _wrk_ms(grab(r"99%\s+([\d.]+\w+)", "nan")),
        "server_cpu_us_per_req": round((cpu1 - cpu0) / max(completed - non2xx, 1) * 1e6, 1),
        "server_cpu_share": round((cpu1 - cpu0) / wall, 2),
    }


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    return round(float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)], 3)


async def _send_count(url: str, request: Signed, total: int, concurrency: int) -> Counter[str]:
    """Send exactly ``total`` copies of the request, ``concurrency`` at a time (setup: CreateKey in bulk)."""
    statuses: Counter[str] = Counter()
    remaining = total

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with session.post(url, data=request.body, headers=request.headers) as response:
                await response.read()
                statuses[str(response.status)] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses


def cpu_idle_fraction(seconds: float) -> float:
    """Share of all CPUs' time that was idle over the next ``seconds`` (from /proc/stat)."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, total (without guest time)

    idle0, total0 = read()
    time.sleep(seconds)
    idle1, total1 = read()
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_until_quiet(threshold: float, deadline_s: float) -> float:
    """Other processes on a 2-CPU machine take CPU from the server and the load generator alike: before a
    throughput run, wait (up to ``deadline_s``) for a half second in which the CPUs were ``threshold`` idle."""
    deadline = time.perf_counter() + deadline_s
    while True:
        idle = cpu_idle_fraction(0.5)
        if idle >= threshold or time.perf_counter() > deadline:
            return round(idle, 2)


# -- single-client latency -----------------------------------------------------------------------------------


def sequential(port: int, requests: Sequence[Signed], warmup: int) -> dict[str, Any]:
    """Send the requests in order over one keep-alive connection; time all but the first ``warmup``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times: list[float] = []
    errors = connections = 0
    try:
        for i, request in enumerate(requests):
            connections += conn.sock is None
            began = time.perf_counter()
            conn.request("POST", "/", body=request.body, headers=request.headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - began
            errors += response.status != 200
            if i >= warmup:
                times.append(elapsed * 1000)
    finally:
        conn.close()
    return summary(times, errors) | {"connections": connections}


def summary(times_ms: Sequence[float], errors: int) -> dict[str, Any]:
    return {"n": len(times_ms), "errors": errors,
            "p50_ms": round(percentile(times_ms, 50), 3), "p90_ms": round(percentile(times_ms, 90), 3),
            "p99_ms": round(percentile(times_ms, 99), 3), "mean_ms": round(statistics.fmean(times_ms), 3)}


def latency(port: int, request: Signed, calls: int) -> dict[str, Any]:
    warmup = max(20, calls // 20)
    return sequential(port, [request] * (warmup + calls), warmup)


# -- scenarios -----------------------------------------------------------------------------------------------


def create_keys(server: Server, count: int, concurrency: int) -> dict[str, Any]:
    began = time.perf_counter()
    statuses = asyncio.run(_send_count(server.url + "/", sign(server.port, "CreateKey", {}), count, concurrency))
    seconds = time.perf_counter() - began
    if statuses.get("200", 0) != count:
        raise RuntimeError(f"CreateKey x{count} on {server.name}: statuses {dict(statuses)}")
    return {"keys": count, "seconds": round(seconds, 2), "per_s": round(count / seconds, 1),
            "concurrency": concurrency}


def list_all_keys(server: Server, rounds: int) -> dict[str, Any]:
    """ListKeys with Limit=1000 until not truncated, sequentially, signing each page as it goes."""
    totals, pages, keys = [], 0, 0
    for _ in range(rounds):
        conn = http.client.HTTPConnection(HOST, server.port, timeout=120)
        began = time.perf_counter()
        marker, keys, pages = None, 0, 0
        try:
            while True:
                params: dict[str, Any] = {"Limit": LIST_PAGE} | ({"Marker": marker} if marker else {})
                request = sign(server.port, "ListKeys", params)
                conn.request("POST", "/", body=request.body, headers=request.headers)
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    raise RuntimeError(f"ListKeys on {server.name}: HTTP {response.status} {data[:200]!r}")
                page = json.loads(data)
                keys += len(page["Keys"])
                pages += 1
                if not page.get("Truncated"):
                    break
                marker = page["NextMarker"]
        finally:
            conn.close()
        totals.append(time.perf_counter() - began)
    client = kms_client(server.url)
    boto_began = time.perf_counter()
    boto_keys = sum(len(p["Keys"]) for p in client.get_paginator("list_keys").paginate(
        PaginationConfig={"PageSize": LIST_PAGE}))
    return {"keys": keys, "pages": pages, "rounds": rounds, "median_s": round(statistics.median(totals), 3),
            "max_s": round(max(totals), 3), "boto3_s": round(time.perf_counter() - boto_began, 3),
            "boto3_keys": boto_keys}


def summarize_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round (by req/s) stands for the measurement; the spread and every round are kept."""
    rps = [r["rps"] for r in rounds]
    cpu = [r["server_cpu_us_per_req"] for r in rounds]
    return {
        "client": rounds[0]["client"], "concurrency": rounds[0]["concurrency"], "rounds": rounds,
        "rps": round(statistics.median(rps), 1), "rps_min": min(rps), "rps_max": max(rps),
        "errors": sum(r["errors"] for r in rounds),
        "server_cpu_us_per_req": round(statistics.median(cpu), 1),
        "loaded_p50_ms": round(statistics.median(r["loaded_p50_ms"] for r in rounds), 2),
        "loaded_p99_ms": round(statistics.median(r["loaded_p99_ms"] for r in rounds), 2),
    }


def setup_ten_keys(server: Server) -> tuple[str, bytes]:
    client = kms_client(server.url)
    key_ids = [client.create_key()["KeyMetadata"]["KeyId"] for _ in range(10)]
    ciphertext = client.encrypt(KeyId=key_ids[0], Plaintext=PLAINTEXT)["CiphertextBlob"]
    return key_ids[0], ciphertext


def quiet(args: argparse.Namespace) -> float | None:
    return wait_until_quiet(args.quiet, args.quiet_wait) if args.quiet else None


def bench_server(start: Callable[[str], Server], args: argparse.Namespace, workdir: Path,
                 many_keys: bool) -> dict[str, Any]:
    """Throughput and latency on a server with 10 keys; then, if ``many_keys``, a second server of the same
    kind gets ``args.keys`` keys and the two are measured in alternation (so that drift in the machine's load
    falls on both alike)."""
    out: dict[str, Any] = {}
    with running(start("ten-keys")) as ten:
        assert ten.process is not None
        key_id, ciphertext = setup_ten_keys(ten)
        requests = crypto_requests(ten.port, key_id, ciphertext)
        check_answers(ten.port, requests, key_id)
        out["throughput"] = measure_throughput(ten, requests, args, workdir)
        out["latency"] = {}
        for op in (*CRYPTO_OPS, "DescribeKey"):
            idle = quiet(args)
            out["latency"][op] = latency(ten.port, requests[op], args.calls) | {"idle_before": idle}
        out["rss_10_keys"] = proc_status(ten.process.pid)
        if many_keys:
            with running(start("many-keys")) as many:
                out["scale"] = bench_many_keys(ten, requests, many, args)
    return out


def measure_throughput(server: Server, requests: dict[str, Signed], args: argparse.Namespace,
                       workdir: Path) -> dict[str, Any]:
    clients = ("aiohttp", "wrk") if args.load == "both" else (args.load,)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {op: {c: [] for c in clients} for op in CRYPTO_OPS}
    for round_no in range(args.rounds):  # rounds interleave the operations, spreading outside noise over all
        print(f"  {server.name}: load round {round_no + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
        for op in CRYPTO_OPS:
            for client in clients:
                idle = quiet(args)
                if client == "aiohttp":
                    run = load_aiohttp(server, requests[op], args.concurrency, args.warmup, args.duration)
                else:
                    run = load_wrk(server, requests[op], args.concurrency, args.warmup, args.duration, workdir)
                runs[op][client].append(run | {"idle_before": idle, "loadavg_1m": os.getloadavg()[0]})
    return {op: {c: summarize_rounds(r) for c, r in by_client.items()} for op, by_client in runs.items()}


def bench_many_keys(ten: Server, ten_requests: dict[str, Signed], many: Server,
                    args: argparse.Namespace) -> dict[str, Any]:
    assert many.process is not None
    key_id, ciphertext = setup_ten_keys(many)
    requests = crypto_requests(many.port, key_id, ciphertext)
    print(f"  {many.name}: creating {args.keys - 10} more keys ...", file=sys.stderr, flush=True)
    scale: dict[str, Any] = {"create": create_keys(many, args.keys - 10, args.create_concurrency)}
    scale["rss_after_create"] = proc_status(many.process.pid)
    check_answers(many.port, requests, key_id)
    print(f"  {many.name}: latency, alternating with the 10-key server ...", file=sys.stderr, flush=True)
    scale["alternating"] = alternate_latency({"10 keys": (ten, ten_requests), "many keys": (many, requests)}, args)
    print(f"  {many.name}: ListKeys ...", file=sys.stderr, flush=True)
    quiet(args)
    scale["list_keys"] = list_all_keys(many, args.list_rounds)
    if scale["list_keys"]["keys"] != args.keys:
        raise RuntimeError(f"ListKeys on {many.name} returned {scale['list_keys']['keys']} keys, not {args.keys}")
    if args.every_key:
        print(f"  {many.name}: Encrypt with every key ...", file=sys.stderr, flush=True)
        pages = kms_client(many.url).get_paginator("list_keys").paginate(PaginationConfig={"PageSize": LIST_PAGE})
        all_ids = [entry["KeyId"] for page in pages for entry in page["Keys"]]
        b64 = base64.b64encode(PLAINTEXT).decode()
        each = [sign(many.port, "Encrypt", {"KeyId": k, "Plaintext": b64}) for k in all_ids]
        scale["every_key_first_pass"] = sequential(many.port, each, 0)
        scale["every_key_second_pass"] = sequential(many.port, each, 0)
    scale["rss_end"] = proc_status(many.process.pid)
    return scale


def alternate_latency(servers: dict[str, tuple[Server, dict[str, Signed]]],
                      args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Encrypt and DescribeKey latency, request by request in turn on each server (one keep-alive connection
    each), ``args.rounds * args.calls`` timed calls per server: a burst of outside load then falls on both alike,
    which sequential blocks of calls on one server and then the other do not give on a shared machine."""
    out: dict[str, dict[str, Any]] = {}
    total = args.rounds * args.calls
    warmup = max(20, total // 50)
    for op in SCALE_OPS:
        quiet(args)
        conns = {label: http.client.HTTPConnection(HOST, server.port, timeout=60)
                 for label, (server, _r) in servers.items()}
        times: dict[str, list[float]] = {label: [] for label in servers}
        errors: Counter[str] = Counter()
        try:
            for i in range(warmup + total):
                for label, (_server, requests) in servers.items():
                    request, conn = requests[op], conns[label]
                    began = time.perf_counter()
                    conn.request("POST", "/", body=request.body, headers=request.headers)
                    response = conn.getresponse()
                    response.read()
                    elapsed = time.perf_counter() - began
                    errors[label] += response.status != 200
                    if i >= warmup:
                        times[label].append(elapsed * 1000)
        finally:
            for conn in conns.values():
                conn.close()
        out[op] = {label: summary(values, errors[label]) for label, values in times.items()}
    return out


# -- report --------------------------------------------------------------------------------------------------


def invalid(entry: dict[str, Any]) -> bool:
    return bool(entry.get("errors"))


def fmt_tp(entry: dict[str, Any]) -> str:
    spread = f" ({entry['rps_min']:,.0f}–{entry['rps_max']:,.0f})" if len(entry["rounds"]) > 1 else ""
    text = f"{entry['rps']:,.0f}{spread}; server CPU {entry['server_cpu_us_per_req']:.0f} µs/req"
    return text + (f" **INVALID: {entry['errors']} errors**" if invalid(entry) else "")


def fmt_lat(entry: dict[str, Any]) -> str:
    text = f"{entry['p50_ms']:.2f} / {entry['p90_ms']:.2f} / {entry['p99_ms']:.2f}"
    return text + (f" **INVALID: {entry['errors']} errors**" if invalid(entry) else "")


Row = tuple[str, str, str, str, str]


def throughput_rows(sim: dict[str, Any], moto: dict[str, Any] | None) -> list[Row]:
    rows: list[Row] = []
    for op in CRYPTO_OPS:
        for client, entry in sim["throughput"][op].items():
            peer = moto["throughput"][op].get(client) if moto else None
            verdict = "n/a"
            if peer and not invalid(entry) and not invalid(peer):
                ratio = entry["rps"] / peer["rps"]
                cpu_ratio = peer["server_cpu_us_per_req"] / entry["server_cpu_us_per_req"]
                verdict = (f"{'met' if ratio >= THROUGHPUT_FACTOR else '**missed**'} ({ratio:.1f}×; "
                           f"{cpu_ratio:.1f}× less server CPU per request)")
            rounds = len(entry["rounds"])
            label = (f"{op} throughput, req/s" + (f" median (min–max) of {rounds} runs" if rounds > 1 else "")
                     + f", {entry['concurrency']} in flight, {client} client")
            rows.append((label, fmt_tp(entry), fmt_tp(peer) if peer else "—", f"≥ {THROUGHPUT_FACTOR:.0f}× moto",
                         verdict))
    return rows


def latency_rows(sim: dict[str, Any], moto: dict[str, Any] | None) -> list[Row]:
    rows: list[Row] = []
    for op in (*CRYPTO_OPS, "DescribeKey"):
        entry = sim["latency"][op]
        target = verdict = ""
        if op in CRYPTO_OPS:
            target = f"p50 ≤ {P50_TARGET_MS:.0f} ms"
            verdict = "met" if entry["p50_ms"] <= P50_TARGET_MS and not invalid(entry) else "**missed**"
        rows.append((f"{op}, one client, ms p50 / p90 / p99 (n={entry['n']})", fmt_lat(entry),
                     fmt_lat(moto["latency"][op]) if moto else "—", target, verdict))
    return rows


def scale_rows(sim: dict[str, Any], moto: dict[str, Any] | None) -> list[Row]:
    s = sim["scale"]
    ms = moto.get("scale") if moto else None
    n = s["list_keys"]["keys"]
    rows: list[Row] = []

    def vs_ten(scale: dict[str, Any], op: str) -> tuple[str, float]:
        pair = scale["alternating"][op]
        ratio = pair["many keys"]["p50_ms"] / pair["10 keys"]["p50_ms"]
        return f"{fmt_lat(pair['many keys'])} vs {fmt_lat(pair['10 keys'])} ({ratio:.2f}×)", ratio

    for op in SCALE_OPS:
        text, ratio = vs_ten(s, op)
        pair = s["alternating"][op]
        ok = ratio <= SCALE_TOLERANCE and not invalid(pair["many keys"]) and not invalid(pair["10 keys"])
        rows.append(((f"{op}, {n:,} keys vs 10 keys (two servers, one request each in turn), ms p50 / p90 / p99 "
                     f"(n={pair['many keys']['n']} each)"), text, vs_ten(ms, op)[0] if ms else "—",
                     f"p50 ≤ {SCALE_TOLERANCE:.2f}× the 10-key p50", "met" if ok else "**missed**"))

    def listing(m: dict[str, Any]) -> str:
        lk = m["list_keys"]
        return f"{lk['median_s']:.3f} ({lk['max_s']:.3f}), {lk['pages']} pages"

    lk = s["list_keys"]
    rows.append((f"ListKeys of all {n:,} keys, Limit={LIST_PAGE}, sequential, s median (max) of {lk['rounds']}",
                 listing(s), listing(ms) if ms else "—", f"≤ {LISTKEYS_TARGET_S:.0f} s",
                 "met" if lk["median_s"] <= LISTKEYS_TARGET_S else "**missed**"))
    rows.append(("same with boto3's paginator (reference), s", f"{lk['boto3_s']:.3f}",
                 f"{ms['list_keys']['boto3_s']:.3f}" if ms else "—", "", ""))

    def rss(m: dict[str, Any]) -> str:
        end = m["rss_end"]
        return f"{end['vmrss_mib'] * 2**20 / 1e6:.0f} ({end['vmrss_mib']:.0f}); {end['vmhwm_mib']:.0f}"

    rss_mb = s["rss_end"]["vmrss_mib"] * 2**20 / 1e6
    rows.append((f"server RSS after the {n:,}-key scenario, MB (MiB); peak VmHWM MiB", rss(s), rss(ms) if ms else "—",
                 f"≤ {RSS_TARGET_MB:.0f} MB", "met" if rss_mb <= RSS_TARGET_MB else "**missed**"))

    def rss_steps(result: dict[str, Any]) -> str:
        return f"{result['rss_10_keys']['vmrss_mib']:.0f} / {result['scale']['rss_after_create']['vmrss_mib']:.0f}"

    rows.append(((f"RSS of the 10-key server after its runs / of the {n:,}-key server right after the keys were "
                 "made, MiB"), rss_steps(sim), rss_steps(moto) if ms and moto else "—", "", ""))

    def creation(m: dict[str, Any]) -> str:
        return f"{m['create']['seconds']:.1f} ({m['create']['per_s']:.0f})"

    rows.append(((f"creating {s['create']['keys']:,} keys (pre-signed CreateKey, {s['create']['concurrency']} in "
                 "flight), s (keys/s)"), creation(s), creation(ms) if ms else "—", "", ""))

    def passes(m: dict[str, Any]) -> str:
        if "every_key_first_pass" not in m:
            return "—"
        return f"{fmt_lat(m['every_key_first_pass'])} → {fmt_lat(m['every_key_second_pass'])}"

    if "every_key_first_pass" in s:
        rows.append(((f"Encrypt with each of the {n:,} keys in turn, one client, ms p50 / p90 / p99: first pass (key "
                     "not cached) → second pass"), passes(s), passes(ms) if ms else "—", "", ""))
    return rows


def markdown(results: dict[str, Any]) -> str:
    sim, moto = results["hsmsim"], results.get("moto")
    peer = moto if isinstance(moto, dict) else None
    rows: list[Row] = [("Metric", "hsmsim", "moto", "Target", "Verdict (hsmsim)")]
    rows += throughput_rows(sim, peer) + latency_rows(sim, peer)
    if "scale" in sim:
        rows += scale_rows(sim, peer)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    if peer is None:
        lines.append(f"\nmoto: {moto}")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------------------


def pin_cpus(wanted: bool) -> list[str]:
    """With two CPUs or more, the server gets the first and this process (the load generator, and wrk, which
    inherits it) the second: otherwise the scheduler at times runs both on one CPU and halves the throughput.
    Returns the command prefix that starts a server on its CPU."""
    allowed = sorted(os.sched_getaffinity(0))
    if not wanted or len(allowed) < 2 or shutil.which("taskset") is None:
        return []
    os.sched_setaffinity(0, {allowed[1]})
    return ["taskset", "-c", str(allowed[0])]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-kms.json"), help="JSON results path")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s windows, 200 calls, 300 keys")
    parser.add_argument("--load", choices=("aiohttp", "wrk", "both"), default="aiohttp",
                        help="load generator for the throughput runs (wrk must be installed)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--duration", type=float, help="timed window per throughput run, s (default 5)")
    parser.add_argument("--rounds", type=int, help="throughput rounds per operation and client (default 3)")
    parser.add_argument("--warmup", type=float, help="warm-up before each window, s (default 1)")
    parser.add_argument("--quiet", type=float, default=0.85,
                        help="before each throughput run wait for the CPUs to be this idle (0 = don't wait)")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="longest wait for a quiet machine, s")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="don't pin the server and the load generator to CPUs of their own")
    parser.add_argument("--calls", type=int, help="sequential calls per latency figure (default 2000)")
    parser.add_argument("--keys", type=int, help="keys in the account for the scale scenario (default 10000)")
    parser.add_argument("--list-rounds", type=int, default=5, help="ListKeys-of-everything rounds (default 5)")
    parser.add_argument("--create-concurrency", type=int, default=8, help="CreateKey requests in flight")
    parser.add_argument("--no-moto-keys", action="store_true", help="skip the many-keys scenario on moto")
    parser.add_argument("--no-every-key", dest="every_key", action="store_false",
                        help="skip the Encrypt-with-every-key passes")
    args = parser.parse_args(argv)
    args.duration = args.duration or (1.0 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.calls = args.calls or (200 if args.quick else 2000)
    args.keys = args.keys or (300 if args.quick else 10_000)
    if args.quick:
        args.list_rounds = min(args.list_rounds, 2)
    if args.load != "aiohttp" and shutil.which("wrk") is None:
        parser.error("--load wrk needs wrk on PATH (apt-get install -y wrk)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine, vers = machine_info(), versions()  # before pinning: machine_info counts this process's CPUs
    pin = pin_cpus(args.pin)
    machine["pinning"] = f"server: {' '.join(pin)}; load generator: CPU {sorted(os.sched_getaffinity(0))}" if pin else None
    if shutil.which("wrk"):
        said = subprocess.run(["wrk", "--version"], check=False, capture_output=True, text=True).stdout
        vers["wrk"] = said.split("[")[0].removeprefix("wrk").strip() or "installed"
    print(f"# hsmsim KMS benchmark ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
    print(f"- machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_total_gib']} GiB, "
          f"Linux {machine['kernel']}, load average {' '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"- load: {args.load}, {args.concurrency} in flight, {args.warmup:g} s warm-up + {args.duration:g} s; "
          f"{args.calls} sequential calls per latency figure; {args.keys:,} keys; "
          + ("server pinned to one CPU, load generator to another" if pin else "server and load generator share "
             "the CPUs") + "\n", flush=True)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-kms-") as tmp:
        workdir = Path(tmp)

        def hsmsim(name: str) -> Server:
            port = free_port()
            argv = [*pin, sys.executable, "-m", "hsmsim", "serve", "--host", HOST, "--port", str(port),
                    "--data-dir", str(workdir / name), "--log-level", "WARNING"]
            return Server(f"hsmsim ({name})", argv, port, workdir / f"hsmsim-{name}.log", "GET", "/_hsmsim/health")

        print("hsmsim ...", file=sys.stderr, flush=True)
        results["hsmsim"] = bench_server(hsmsim, args, workdir, many_keys=True)
        exe = moto_executable()
        if exe is None:
            results["moto"] = "not installed (pip install -e '.[bench]')"
        else:
            def moto(name: str) -> Server:
                port = free_port()
                return Server(f"moto ({name})", [*pin, exe, "-H", HOST, "-p", str(port)], port,
                              workdir / f"moto-{name}.log", "POST", "/moto-api/reset")

            print("moto ...", file=sys.stderr, flush=True)
            results["moto"] = bench_server(moto, args, workdir, many_keys=not args.no_moto_keys)

    machine["loadavg_at_end"] = list(os.getloadavg())
    report = markdown(results)
    print(report)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in machine['loadavg_at_end'])} "
          "(other processes on this machine add noise to every figure)")
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine, "versions": vers,
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {"throughput_factor_vs_moto": THROUGHPUT_FACTOR, "p50_ms": P50_TARGET_MS,
                    "scale_tolerance": SCALE_TOLERANCE, "list_keys_s": LISTKEYS_TARGET_S, "rss_mb": RSS_TARGET_MB},
        "results": results, "markdown": report,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nJSON written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
