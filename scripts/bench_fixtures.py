#!/usr/bin/env python3
"""Benchmark of the pytest plugin's fixtures: an ACTIVE two-HSM cluster plus a CONNECTED custom key store per test.

What it measures: a generated test file of N tests (default 100), each asking ``cloudhsm_cluster(hsms=2)`` and
``custom_key_store(cluster)`` and checking the store is CONNECTED, run in ONE pytest process (a subprocess of this
script, with the plugin's own server and ``--hsmsim-delays instant``), ``--runs`` times.

* **Per test**: setup + call + teardown of each test as pytest reports them (a conftest of the generated dir
  writes the durations to a JSON file), the first test left out (it also starts the server and makes the
  session's template cluster, reported apart). Median, p90, min, max. Target: median <= 300 ms.
* **The whole file**: wall time of the pytest process, from ``Popen`` to its exit (interpreter start, imports,
  server start and stop included). Target: <= 60 s.

Usage::

    .venv/bin/python scripts/bench_fixtures.py [--tests 100] [--runs 1] [--out bench-fixtures.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # the scripts' shared machine and statistics helpers

TEST_FILE = '''
import pytest


@pytest.mark.parametrize("index", range({count}))
def test_cluster_and_connected_store(index, cloudhsm_cluster, custom_key_store, kms_client):
    cluster = cloudhsm_cluster(hsms=2)
    store = custom_key_store(cluster)
    view = kms_client.describe_custom_key_stores(CustomKeyStoreId=store.custom_key_store_id)["CustomKeyStores"][0]
    assert view["ConnectionState"] == "CONNECTED" and len(cluster.hsm_ids) == 2
'''

CONFTEST = '''
import json

DURATIONS = {{}}


def pytest_runtest_logreport(report):
    DURATIONS[report.nodeid] = DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open({path!r}, "w") as out:
        json.dump(DURATIONS, out)
'''


def run_once(count: int, workdir: Path) -> dict[str, Any]:
    durations = workdir / "durations.json"
    (workdir / "test_fixtures_bench.py").write_text(TEST_FILE.format(count=count))
    (workdir / "conftest.py").write_text(CONFTEST.format(path=str(durations)))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(workdir)], cwd=workdir, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the generated tests failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    per_test = list(json.loads(durations.read_text()).values())
    return {"wall_s": round(wall, 2), "first_test_ms": round(per_test[0] * 1000, 1),
            "per_test": benchlib.summary_ms(per_test[1:]), "passed_line": done.stdout.strip().splitlines()[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=100, help="tests in the generated file (default 100)")
    parser.add_argument("--runs", type=int, default=1, help="times the file is run (default 1)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    machine = benchlib.machine_info()
    print(f"# pytest fixtures: cloudhsm_cluster(hsms=2) + CONNECTED custom_key_store, {args.tests} tests per file\n")
    print(benchlib.machine_line(machine))
    print(benchlib.versions_line(benchlib.versions()))
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="hsmsim-bench-fixtures-") as tmp:
            runs.append(run_once(args.tests, Path(tmp)))
    whole = f"{args.tests} tests, one pytest process"
    rows = [["run", "per test median", "p90", "min", "max", "first test (server + template)", whole]]
    for number, run in enumerate(runs, 1):
        per = run["per_test"]
        rows.append([str(number), f"{per['median_ms']:.0f} ms", f"{per['p90_ms']:.0f} ms", f"{per['min_ms']:.0f} ms",
                     f"{per['max_ms']:.0f} ms", f"{run['first_test_ms']:.0f} ms", f"{run['wall_s']:.1f} s"])
    print()
    print(benchlib.markdown_table(rows))
    median = statistics.median(r["per_test"]["median_ms"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    print(f"\nper test median {median:.0f} ms (target <= 300 ms); {args.tests}-test file {wall:.1f} s "
          "(target <= 60 s for 100)")
    print(benchlib.end_line(machine))
    if args.out:
        benchlib.write_json(args.out, {"machine": machine, "tests": args.tests, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
