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
import base64
import http.client
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # the scripts' shared process, machine, request and load helpers
from benchlib import (
    HOST,
    KMS,
    PLAINTEXT,
    Server,
    Signed,
    add_load_arguments,
    check_answers,
    check_load_arguments,
    crypto_requests,
    end_line,
    fmt_lat,
    fmt_tp,
    free_port,
    invalid,
    kms_client,
    moto_executable,
    pinning_phrase,
    proc_status,
    quiet,
    running,
    send_count,
    sequential,
    start_report,
    summary,
    write_json,
)

THROUGHPUT_FACTOR = 10.0
P50_TARGET_MS = 2.0
SCALE_TOLERANCE = 1.20
LISTKEYS_TARGET_S = 2.0
RSS_TARGET_MB = 300.0  # MB = 10**6 bytes, i.e. 286.1 MiB
LIST_PAGE = 1000
CRYPTO_OPS = ("Encrypt", "Decrypt", "GenerateDataKey")
SCALE_OPS = ("Encrypt", "DescribeKey")


# -- requests signed once ------------------------------------------------------------------------------------


def sign(port: int, operation: str, params: dict[str, Any]) -> Signed:
    return benchlib.sign(KMS, port, operation, params)


# -- single-client latency -----------------------------------------------------------------------------------


def latency(port: int, request: Signed, calls: int) -> dict[str, Any]:
    warmup = max(20, calls // 20)
    return sequential(port, [request] * (warmup + calls), warmup)


# -- scenarios -----------------------------------------------------------------------------------------------


def create_keys(server: Server, count: int, concurrency: int) -> dict[str, Any]:
    began = time.perf_counter()
    statuses = send_count(server.url + "/", sign(server.port, "CreateKey", {}), count, concurrency)
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


def setup_ten_keys(server: Server) -> tuple[str, bytes]:
    client = kms_client(server.url)
    key_ids = [client.create_key()["KeyMetadata"]["KeyId"] for _ in range(10)]
    ciphertext = client.encrypt(KeyId=key_ids[0], Plaintext=PLAINTEXT)["CiphertextBlob"]
    return key_ids[0], ciphertext


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
    """``args.rounds`` rounds interleaving the operations (spreading outside noise over all of them)."""
    return benchlib.measure_throughput([(server.name, server, requests)], CRYPTO_OPS, args, workdir)[server.name]


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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-kms.json"), help="JSON results path")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s windows, 200 calls, 300 keys")
    add_load_arguments(parser)
    parser.add_argument("--calls", type=int, help="sequential calls per latency figure (default 2000)")
    parser.add_argument("--keys", type=int, help="keys in the account for the scale scenario (default 10000)")
    parser.add_argument("--list-rounds", type=int, default=5, help="ListKeys-of-everything rounds (default 5)")
    parser.add_argument("--create-concurrency", type=int, default=8, help="CreateKey requests in flight")
    parser.add_argument("--no-moto-keys", action="store_true", help="skip the many-keys scenario on moto")
    parser.add_argument("--no-every-key", dest="every_key", action="store_false",
                        help="skip the Encrypt-with-every-key passes")
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    args.calls = args.calls or (200 if args.quick else 2000)
    args.keys = args.keys or (300 if args.quick else 10_000)
    if args.quick:
        args.list_rounds = min(args.list_rounds, 2)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine, vers, pin = start_report("hsmsim KMS benchmark", args.pin)
    print(f"- load: {args.load}, {args.concurrency} in flight, {args.warmup:g} s warm-up + {args.duration:g} s; "
          f"{args.calls} sequential calls per latency figure; {args.keys:,} keys; "
          + pinning_phrase(pin) + "\n", flush=True)

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

    report = markdown(results)
    print(report)
    print(end_line(machine))
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine, "versions": vers,
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {"throughput_factor_vs_moto": THROUGHPUT_FACTOR, "p50_ms": P50_TARGET_MS,
                    "scale_tolerance": SCALE_TOLERANCE, "list_keys_s": LISTKEYS_TARGET_S, "rss_mb": RSS_TARGET_MB},
        "results": results, "markdown": report,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
