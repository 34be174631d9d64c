#!/usr/bin/env python3
"""Loopback benchmark of hsmsim's CloudHSM v2 API, with moto's server as the peer.

What it measures (every server is started by this script on 127.0.0.1, in a temp dir, and stopped at the end):

1. **Create -> initialize flow** (instant delay profile), with boto3, as a client sees it: CreateCluster,
   DescribeClusters until UNINITIALIZED, CreateHsm, DescribeClusters until the HSM is ACTIVE and the cluster
   CSR is there, sign the CSR (with a CA made once, before timing), InitializeCluster, DescribeClusters until
   INITIALIZED. Wall time of the whole flow over N runs (server reset between runs, outside the timing; one
   untimed warm-up run first): median, p90, min, plus the number of HTTP requests per run and the median time
   of each step. Target: median <= 200 ms. moto is probed for CreateHsm/InitializeCluster and the flow is run
   against it only if it supports them.

2. **DescribeClusters with 100 clusters** in the account, per call. boto3's own CPU per call (signing, and
   parsing a 40-60 KiB response: 5-15 ms here) would hide the server, so the main figure replays one request
   signed once with botocore's SigV4Auth
   (access key 111122223333, region us-east-1, signing name cloudhsm) over one keep-alive
   ``http.client.HTTPConnection``, sequentially, after a few warm-up calls. The boto3 figure is reported for
   reference. Same for moto's server (100 clusters created there with boto3). Target: median <= 20 ms.

3. **Restart with many HSM tokens**: a fresh data dir is filled with N clusters (default 1,000) each with one
   HSM (so N + 1 SoftHSM tokens: one per HSM plus the simulator's root-CA token), using a few client threads;
   the server is stopped with SIGTERM, then started again on the same data dir and the time from process start
   (just before ``Popen``) until ``GET /_hsmsim/health`` answers 200 is measured (polled every 10 ms).
   Also reported: the server's RSS (VmRSS) and CPU time right after that, the time of the first
   DescribeClusters after health (all N clusters, one call) and the data dir size. Target: <= 5 s.

Usage::

    .venv/bin/python scripts/bench_cloudhsm.py [--quick] [--out bench-cloudhsm.json] [--tokens N] ...

``--quick`` uses small counts (5 flow runs, 20 describe calls, 50 tokens) for a smoke test. Results are printed
as a Markdown table and written as JSON to ``--out``. Needs moto's server (``pip install 'moto[server]'``) for
the peer columns; without it those columns say "not installed".
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # the scripts' shared process, machine and request helpers
from benchlib import (
    CLOUDHSM,
    HOST,
    Server,
    end_line,
    machine_info,
    machine_line,
    moto_executable,
    proc_status,
    running,
    summary_ms,
    versions,
    versions_line,
    write_json,
)

from hsmsim.testing import CustomerCA

SUBNETS = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb"]
AZ = "us-east-1a"

FLOW_TARGET_MS = 200.0
DESCRIBE_TARGET_MS = 20.0
STARTUP_TARGET_S = 5.0

POLL_DEADLINE_S = 30.0  # a flow step that takes longer than this fails the run


# -- small utilities ---------------------------------------------------------------------------------------


def dir_size(path: Path) -> dict[str, Any]:
    apparent = allocated = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return {"files": files, "apparent_mib": round(apparent / 2**20, 2), "allocated_mib": round(allocated / 2**20, 2)}


def boto_client(url: str) -> Any:
    return benchlib.boto_client("cloudhsmv2", url)


def hsmsim_server(data_dir: Path, max_clusters: int, max_hsms: int, port: int | None = None) -> Server:
    return benchlib.hsmsim_server(data_dir, port=port,
                                  extra=["--max-clusters", str(max_clusters), "--max-hsms", str(max_hsms)])


def moto_server(workdir: Path) -> Server:
    return benchlib.moto_server(workdir / "moto-server.log")


# -- 1. the create -> initialize flow ----------------------------------------------------------------------


class FlowError(Exception):
    pass


class RequestCounter:
    """Counts the HTTP requests a boto3 client sends (botocore's before-send event, once per attempt)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send", self._on_send)

    def _on_send(self, **_kwargs: Any) -> None:
        self.count += 1


def _poll(client: Any, cluster_id: str, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.perf_counter() + POLL_DEADLINE_S
    while True:
        clusters = client.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"]
        if clusters and done(clusters[0]):
            return clusters[0]
        if time.perf_counter() > deadline:
            state = clusters[0].get("State") if clusters else "absent"
            raise FlowError(f"{what} not reached within {POLL_DEADLINE_S} s (cluster state {state})")
        time.sleep(0.002)


def _hsm_ready(hsm_id: str) -> Callable[[dict[str, Any]], bool]:
    def done(cluster: dict[str, Any]) -> bool:
        hsms = [h for h in cluster.get("Hsms", []) if h.get("HsmId") == hsm_id]
        return bool(hsms) and hsms[0].get("State") == "ACTIVE" and bool(
            cluster.get("Certificates", {}).get("ClusterCsr"))
    return done


def run_flow(client: Any, ca: CustomerCA) -> dict[str, float]:
    """One create -> initialize flow; returns the seconds of each step and the total."""
    marks = [("start", time.perf_counter())]

    def mark(step: str) -> None:
        marks.append((step, time.perf_counter()))

    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS)["Cluster"]["ClusterId"]
    mark("CreateCluster")
    _poll(client, cluster_id, lambda c: c["State"] == "UNINITIALIZED", "UNINITIALIZED")
    mark("poll UNINITIALIZED")
    hsm_id = client.create_hsm(ClusterId=cluster_id, AvailabilityZone=AZ)["Hsm"]["HsmId"]
    mark("CreateHsm")
    cluster = _poll(client, cluster_id, _hsm_ready(hsm_id), "HSM ACTIVE with CSR")
    mark("poll HSM ACTIVE + CSR")
    signed = ca.sign_csr(cluster["Certificates"]["ClusterCsr"])
    mark("sign CSR")
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=ca.pem)
    mark("InitializeCluster")
    _poll(client, cluster_id, lambda c: c["State"] == "INITIALIZED", "INITIALIZED")
    mark("poll INITIALIZED")
    steps = {step: marks[i][1] - marks[i - 1][1] for i, (step, _t) in enumerate(marks) if i}
    steps["total"] = marks[-1][1] - marks[0][1]
    return steps


def bench_flow(server: Server, ca: CustomerCA, runs: int, reset: Callable[[], None]) -> dict[str, Any]:
    client = boto_client(server.url)
    counter = RequestCounter(client)
    reset()
    counter.count = 0
    warmup = run_flow(client, ca)
    warmup_requests = counter.count
    totals: list[float] = []
    requests: list[int] = []
    per_step: dict[str, list[float]] = {}
    for _ in range(runs):
        reset()
        counter.count = 0
        steps = run_flow(client, ca)
        requests.append(counter.count)
        totals.append(steps.pop("total"))
        for step, seconds in steps.items():
            per_step.setdefault(step, []).append(seconds)
    return {
        **summary_ms(totals),
        "requests_per_run": {"median": statistics.median(requests), "min": min(requests), "max": max(requests)},
        "warmup_run_ms": round(warmup["total"] * 1000, 3),
        "warmup_requests": warmup_requests,
        "step_median_ms": {step: round(statistics.median(v) * 1000, 3) for step, v in per_step.items()},
    }


def probe_moto_flow(server: Server) -> str | None:
    """None if moto supports CreateHsm and InitializeCluster, else why not (checked, not assumed)."""
    client = boto_client(server.url)
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS)["Cluster"]["ClusterId"]
    missing = []
    for operation, call in (
        ("CreateHsm", lambda: client.create_hsm(ClusterId=cluster_id, AvailabilityZone=AZ)),
        ("InitializeCluster", lambda: client.initialize_cluster(
            ClusterId=cluster_id, SignedCert="-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
            TrustAnchor="-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")),
    ):
        try:
            call()
        except ClientError as error:
            meta = error.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode")
            code = error.response.get("Error", {}).get("Code")
            # An unimplemented action answers 404/500/501; a real implementation rejecting the bogus input
            # answers 400 with a service error code.
            if status != 400:
                missing.append(f"{operation} -> HTTP {status}" + (f" {code}" if code and code != str(status) else ""))
        except BotoCoreError as error:
            missing.append(f"{operation} -> {type(error).__name__}")
    if not missing:
        return None
    # moto answers an unimplemented action with an HTML 500 page; its log says why.
    said = [line.strip() for line in server.log_path.read_text(errors="replace").splitlines()
            if line.startswith("NotImplementedError:")]
    return "; ".join(missing) + (f" — moto log: {'; '.join(dict.fromkeys(said))}" if said else "")


# -- 2. DescribeClusters with 100 clusters -----------------------------------------------------------------


def signed_request(port: int, operation: str, body: bytes) -> dict[str, str]:
    """Headers of a request signed once with SigV4 (replayed as is: neither server verifies signatures)."""
    return benchlib.sign(CLOUDHSM, port, operation, body).headers


def replay(port: int, headers: dict[str, str], body: bytes, calls: int, warmup: int) -> tuple[list[float], Any, dict]:
    """Send the same request ``warmup + calls`` times over one keep-alive connection; time the last ``calls``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times: list[float] = []
    first_body = b""
    connections = 0
    try:
        for i in range(warmup + calls):
            # http.client drops the socket after a "Connection: close" response and reconnects on the next
            # request (inside the timing, as any client would have to).
            connections += conn.sock is None
            began = time.perf_counter()
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - began
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
            if i == 0:
                first_body = data
            if i >= warmup:
                times.append(elapsed)
    finally:
        conn.close()
    info = {"connections_opened": connections, "requests": warmup + calls, "response_bytes": len(first_body)}
    return times, json.loads(first_body), info


def fill_clusters(url: str, count: int) -> None:
    client = boto_client(url)
    for _ in range(count):
        client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS)


def bench_describe(server: Server, clusters: int, calls: int) -> dict[str, Any]:
    warmup = max(3, min(10, calls // 10))
    body = b"{}"
    headers = signed_request(server.port, "DescribeClusters", body)
    times, first, conn_info = replay(server.port, headers, body, calls, warmup)
    seen = len(first.get("Clusters", []))
    if seen != clusters or first.get("NextToken"):
        raise RuntimeError(f"DescribeClusters returned {seen} clusters (NextToken {first.get('NextToken')!r}), "
                           f"expected all {clusters} in one page")
    client = boto_client(server.url)
    for _ in range(warmup):
        client.describe_clusters()
    boto_times = []
    for _ in range(calls):
        began = time.perf_counter()
        client.describe_clusters()
        boto_times.append(time.perf_counter() - began)
    return {"raw": {**summary_ms(times), **conn_info}, "boto3": summary_ms(boto_times), "clusters": seen}


# -- 3. restart with many tokens ---------------------------------------------------------------------------


def _fill_one(client: Any) -> None:
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS)["Cluster"]["ClusterId"]
    _poll(client, cluster_id, lambda c: c["State"] == "UNINITIALIZED", "UNINITIALIZED")
    client.create_hsm(ClusterId=cluster_id, AvailabilityZone=AZ)


def fill_hsms(url: str, count: int, threads: int) -> dict[str, Any]:
    clients = [boto_client(url) for _ in range(threads)]
    local = threading.local()
    next_client = iter(clients)
    lock = threading.Lock()
    done = 0
    began = time.perf_counter()

    def work(_i: int) -> None:
        nonlocal done
        if not hasattr(local, "client"):
            with lock:
                local.client = next(next_client)
        _fill_one(local.client)
        with lock:
            done += 1
            if done % max(1, count // 10) == 0:
                rate = done / (time.perf_counter() - began)
                print(f"  filled {done}/{count} clusters+HSMs ({rate:.1f}/s)", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, range(count)))  # re-raises the first failure
    elapsed = time.perf_counter() - began
    # Let the instant profile settle every HSM to ACTIVE, and check what we made.
    client = clients[0]
    clusters: list[dict[str, Any]] = []
    token = None
    for _ in range(count // 25 + 10):
        page = client.describe_clusters(**({"NextToken": token} if token else {}))
        clusters += page["Clusters"]
        token = page.get("NextToken")
        if not token:
            break
    hsms = [h for c in clusters for h in c.get("Hsms", [])]
    return {
        "seconds": round(elapsed, 2),
        "per_hsm_ms": round(elapsed / count * 1000, 1),
        "threads": threads,
        "clusters": len(clusters),
        "hsms": len(hsms),
        "hsms_active": sum(1 for h in hsms if h.get("State") == "ACTIVE"),
    }


def bench_restart(workdir: Path, tokens: int, threads: int) -> dict[str, Any]:
    data_dir = workdir / "restart-data"
    result: dict[str, Any] = {"tokens_requested": tokens}
    filler = hsmsim_server(data_dir, tokens, tokens)
    with running(filler):
        result["fill"] = fill_hsms(filler.url, tokens, threads)
        result["shutdown_s"] = round(filler.stop() or 0.0, 3)
    token_dirs = [p for p in (data_dir / "tokens").iterdir() if p.is_dir()]
    result["token_dirs"] = len(token_dirs)
    result["data_dir"] = dir_size(data_dir)

    server = hsmsim_server(data_dir, tokens, tokens)
    with running(server):
        assert server.process is not None
        result["start_to_health_s"] = round(server.ready_after_s, 3)
        result["health_probes"] = server.probes
        result["after_start"] = proc_status(server.process.pid)
        body = b"{}"
        headers = signed_request(server.port, "DescribeClusters", body)
        times, first, _info = replay(server.port, headers, body, calls=3, warmup=0)
        result["first_describe_all_ms"] = round(times[0] * 1000, 1)
        result["next_describe_all_ms"] = round(statistics.median(times[1:]) * 1000, 1)
        result["clusters_after_restart"] = len(first.get("Clusters", []))
        result["after_first_describe"] = proc_status(server.process.pid)
    return result


# -- report ------------------------------------------------------------------------------------------------


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= target else "**missed**"


def markdown(results: dict[str, Any]) -> str:
    flow, moto_flow = results["flow"]["hsmsim"], results["flow"]["moto"]
    desc, moto_desc = results["describe"]["hsmsim"], results["describe"]["moto"]
    restart = results["restart"]

    def trio(s: dict[str, Any]) -> str:
        return f"{s['median_ms']:.1f} / {s['p90_ms']:.1f} / {s['min_ms']:.1f}"

    def duo(s: dict[str, Any]) -> str:
        return f"{s['median_ms']:.2f} / {s['p90_ms']:.2f}"

    def peer(entry: Any, fmt: Callable[[dict[str, Any]], str], explain: bool = False) -> str:
        """A peer figure, or why there is none (said once, on the first row of a measurement)."""
        if isinstance(entry, dict):
            return fmt(entry)
        return str(entry).replace("|", "/") if explain else "—"

    n_flow, n_desc = flow["n"], desc["raw"]["n"]
    tokens = restart["fill"]["hsms"]
    rows = [
        ("Metric", "hsmsim", "moto", "Target", "Verdict (hsmsim)"),
        (f"1. Create→INITIALIZED flow, boto3, ms median / p90 / min (n={n_flow})", trio(flow),
         peer(moto_flow, trio, explain=True), f"median ≤ {FLOW_TARGET_MS:.0f} ms",
         verdict(flow["median_ms"], FLOW_TARGET_MS)),
        ("1. requests per flow run (median, min–max)",
         f"{flow['requests_per_run']['median']:g} ({flow['requests_per_run']['min']}–"
         f"{flow['requests_per_run']['max']})",
         peer(moto_flow, lambda s: f"{s['requests_per_run']['median']:g}"), "", ""),
        ("1. first (warm-up, untimed) flow run, ms", f"{flow['warmup_run_ms']:.1f}",
         peer(moto_flow, lambda s: f"{s['warmup_run_ms']:.1f}"), "", ""),
        (f"2. DescribeClusters, {desc['clusters']} clusters, signed-once replay, ms median / p90 (n={n_desc})",
         duo(desc["raw"]), peer(moto_desc, lambda s: duo(s["raw"]), explain=True),
         f"median ≤ {DESCRIBE_TARGET_MS:.0f} ms",
         verdict(desc["raw"]["median_ms"], DESCRIBE_TARGET_MS)),
        (f"2. DescribeClusters, {desc['clusters']} clusters, boto3 (reference), ms median / p90", duo(desc["boto3"]),
         peer(moto_desc, lambda s: duo(s["boto3"])), "", ""),
        ("2. response size, KiB; TCP connections used by the replay",
         f"{desc['raw']['response_bytes'] / 1024:.1f}; {desc['raw']['connections_opened']} for "
         f"{desc['raw']['requests']} requests",
         peer(moto_desc, lambda s: f"{s['raw']['response_bytes'] / 1024:.1f}; {s['raw']['connections_opened']} for "
              f"{s['raw']['requests']} requests"), "", ""),
        (f"3. restart with {tokens} HSMs ({restart['token_dirs']} tokens): process start → health 200, s",
         f"{restart['start_to_health_s']:.2f}", "—", f"≤ {STARTUP_TARGET_S:.0f} s",
         verdict(restart["start_to_health_s"], STARTUP_TARGET_S)),
        ("3. server RSS / CPU time right after start", f"{restart['after_start']['vmrss_mib']:.0f} MiB / "
         f"{restart['after_start']['cpu_s']:.2f} s", "—", "", ""),
        (f"3. first DescribeClusters after restart (all {restart['clusters_after_restart']} clusters), ms",
         f"{restart['first_describe_all_ms']:.0f} (next: {restart['next_describe_all_ms']:.0f})", "—", "", ""),
        ("3. data dir size (allocated / apparent), files",
         f"{restart['data_dir']['allocated_mib']:.0f} MiB / {restart['data_dir']['apparent_mib']:.0f} MiB, "
         f"{restart['data_dir']['files']}", "—", "", ""),
        (f"3. fill: {tokens} clusters+HSMs with {restart['fill']['threads']} threads",
         f"{restart['fill']['seconds']:.0f} s ({restart['fill']['per_hsm_ms']:.0f} ms/HSM)", "—", "", ""),
    ]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    steps = flow["step_median_ms"]
    lines += ["", "Flow 1, median per step (hsmsim, ms):", "",
              "| " + " | ".join(steps) + " |", "|" + "---|" * len(steps),
              "| " + " | ".join(f"{v:.1f}" for v in steps.values()) + " |"]
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-cloudhsm.json"), help="JSON results path")
    parser.add_argument("--quick", action="store_true", help="small counts: 5 flow runs, 20 calls, 50 tokens")
    parser.add_argument("--runs", type=int, help="flow runs (default 30; 5 with --quick)")
    parser.add_argument("--calls", type=int, help="DescribeClusters calls (default 200; 20 with --quick)")
    parser.add_argument("--clusters", type=int, default=100, help="clusters for DescribeClusters (default 100)")
    parser.add_argument("--tokens", type=int, help="HSMs for the restart test (default 1000; 50 with --quick)")
    parser.add_argument("--fill-threads", type=int, default=4, help="client threads filling the data dir")
    args = parser.parse_args(argv)
    args.runs = args.runs or (5 if args.quick else 30)
    args.calls = args.calls or (20 if args.quick else 200)
    args.tokens = args.tokens or (50 if args.quick else 1000)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine, vers = machine_info(), versions()
    print(f"# hsmsim CloudHSM benchmark ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
    print(machine_line(machine))
    print(versions_line(vers))
    print(f"- python: {sys.executable} ({machine['python']})")
    print(f"- counts: {args.runs} flow runs, {args.calls} DescribeClusters calls over {args.clusters} clusters, "
          f"{args.tokens} HSM tokens\n", flush=True)

    results: dict[str, Any] = {"flow": {}, "describe": {}}
    have_moto = moto_executable() is not None
    with tempfile.TemporaryDirectory(prefix="bench-cloudhsm-") as tmp:
        workdir = Path(tmp)
        print("1+2. hsmsim: flow, then DescribeClusters ...", file=sys.stderr, flush=True)
        ca = CustomerCA()  # made once, before any timing
        hsmsim = hsmsim_server(workdir / "data", max(args.clusters, 10), 10)
        with running(hsmsim):
            def reset() -> None:
                status = hsmsim.control("POST", "/_hsmsim/reset")
                if status != 200:
                    raise RuntimeError(f"reset answered {status}")

            results["flow"]["hsmsim"] = bench_flow(hsmsim, ca, args.runs, reset)
            reset()
            fill_clusters(hsmsim.url, args.clusters)
            results["describe"]["hsmsim"] = bench_describe(hsmsim, args.clusters, args.calls)

        if have_moto:
            print("1+2. moto ...", file=sys.stderr, flush=True)
            moto = moto_server(workdir)
            with running(moto):
                def moto_reset() -> None:
                    status = moto.control("POST", "/moto-api/reset")
                    if status != 200:
                        raise RuntimeError(f"moto reset answered {status}")

                missing = probe_moto_flow(moto)
                if missing:
                    results["flow"]["moto"] = f"not supported ({missing})"
                else:
                    try:
                        results["flow"]["moto"] = bench_flow(moto, ca, args.runs, moto_reset)
                    except FlowError as error:
                        results["flow"]["moto"] = f"flow does not complete ({error})"
                moto_reset()
                fill_clusters(moto.url, args.clusters)
                results["describe"]["moto"] = bench_describe(moto, args.clusters, args.calls)
        else:
            results["flow"]["moto"] = results["describe"]["moto"] = "not installed"

        print(f"3. restart with {args.tokens} HSM tokens (filling the data dir) ...", file=sys.stderr, flush=True)
        results["restart"] = bench_restart(workdir, args.tokens, args.fill_threads)

    report = markdown(results)
    print(report)
    print(end_line(machine))
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "versions": vers,
        "parameters": {"runs": args.runs, "calls": args.calls, "clusters": args.clusters, "tokens": args.tokens,
                       "fill_threads": args.fill_threads, "quick": args.quick},
        "targets": {"flow_median_ms": FLOW_TARGET_MS, "describe_median_ms": DESCRIBE_TARGET_MS,
                    "start_to_health_s": STARTUP_TARGET_S},
        "results": results,
        "markdown": report,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
