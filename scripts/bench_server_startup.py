#!/usr/bin/env python3
"""Start-up time of the whole server on a data dir with many HSMs (issue 10: <= 5 s with 1,000 HSM tokens).

``scripts/bench_startup.py`` times the HSM layer alone (repair pass, C_Initialize, logins) on copied tokens; this
script times what a user waits for: ``hsmsim serve`` from exec until ``GET /_hsmsim/health`` answers, on a data dir
made through the API. It makes one ACTIVE template cluster (``hsmsim.testing.clusters``), then restores clusters of
``--per-cluster`` HSMs (one per Availability Zone, at most 6) from its backup until ``--hsms`` HSMs exist, stops the
server, and starts it ``--rounds`` times (start, health, SIGTERM), reporting the median and every round. The first
start after the build is reported apart (the page cache is warm in both; nothing to repair in either).

Usage: ``.venv/bin/python scripts/bench_server_startup.py [--hsms 1000] [--per-cluster 6] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # machine and versions lines

from hsmsim.testing.clusters import Scope, Template
from hsmsim.testing.server import ServerProcess
from hsmsim.testing.simulation import Simulation


def build(data_dir: Path, hsms: int, per_cluster: int) -> int:
    clusters = -(-hsms // per_cluster) + 1
    server = ServerProcess(data_dir, ["--log-level", "WARNING", "--max-clusters", str(clusters + 1),
                                      "--max-hsms", str(hsms + per_cluster + 2)]).start()
    try:
        account = Simulation(server.url, server).account("111122223333")
        scope = Scope(account.cloudhsmv2, server.url, account.account_id, account.region)
        template = Template.make(scope)
        made, began = 2, time.perf_counter()
        while made < hsms:
            template.restore(scope, min(per_cluster, hsms - made))
            made += min(per_cluster, hsms - made)
            if made % 120 < per_cluster:
                print(f"  {made} HSMs, {time.perf_counter() - began:.0f} s", flush=True)
        return made
    finally:
        server.stop()


def timed_start(data_dir: Path) -> float:
    server = ServerProcess(data_dir, ["--log-level", "WARNING"])
    began = time.perf_counter()
    server.start()
    elapsed = time.perf_counter() - began
    server.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hsms", type=int, default=1000)
    parser.add_argument("--per-cluster", type=int, default=6, choices=range(1, 7))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"# hsmsim server start-up with {args.hsms} HSMs\n")
    print(benchlib.machine_line(benchlib.machine_info()))
    print(benchlib.versions_line(benchlib.versions()))
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        data_dir = Path(tmp) / "data"
        began = time.perf_counter()
        made = build(data_dir, args.hsms, args.per_cluster)
        tokens = len(list((data_dir / "tokens").iterdir()))
        print(f"- built {made} HSMs ({tokens} token directories) in {time.perf_counter() - began:.0f} s")
        first = timed_start(data_dir)
        rounds = [timed_start(data_dir) for _ in range(args.rounds)]
    print(f"- first start after the build: {first:.2f} s")
    print(f"- start until healthy, median of {args.rounds}: {statistics.median(rounds):.2f} s "
          f"(rounds: {', '.join(f'{r:.2f}' for r in rounds)}); target <= 5 s")


if __name__ == "__main__":
    main()
