#!/usr/bin/env python3
"""What SigV4 verification (``hsmsim serve --credentials FILE``) costs in KMS throughput: the same run, two hsmsim
servers, one without and one with a credentials file (issue 10: "signature verification on costs <= 15 % of KMS
Encrypt throughput (same run, on vs off)").

Both servers get 10 symmetric keys; the requests of ``scripts/bench_kms.py`` (Encrypt of 64 bytes, Decrypt,
GenerateDataKey; :func:`benchlib.crypto_requests`) are signed once per round with botocore's SigV4Auth (access key
``111122223333``, secret ``bench-secret``: the credentials file holds exactly that key, so the verifying server
accepts them) and replayed by the load generator of ``benchlib``. A replayed signature ages: the verifying server
takes it for 5 minutes, so the requests are signed again before every round (a round is
``2 x operations x (warm-up + window)`` long). Each round measures off and on back to back for each operation, so
outside noise falls on both alike; the median round stands for the measurement. The server's CPU time per request
(from /proc) is reported too: on a loaded 2-CPU machine it is the steadier figure.

It also times :meth:`SigV4Verifier.verify` alone in this process (one Encrypt request, ``--verify-calls`` calls).

Usage::

    .venv/bin/python scripts/bench_sigv4.py [--ops Encrypt,Decrypt] [--rounds 3 --duration 3] [--out bench-sigv4.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from multidict import CIMultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # the scripts' shared process, machine, request and load helpers
from benchlib import (
    ACCOUNT,
    HOST,
    SECRET,
    Server,
    add_load_arguments,
    check_answers,
    check_load_arguments,
    crypto_requests,
    end_line,
    fmt_tp,
    hsmsim_server,
    invalid,
    kms_client,
    markdown_table,
    pinning_phrase,
    running,
    start_report,
    summarize_rounds,
    write_json,
)

from hsmsim.aws.credentials import CredentialStore, parse_credentials
from hsmsim.aws.sigv4 import SigV4Verifier

COST_TARGET = 0.15  # on may cost at most 15 % of the off throughput
OPERATIONS = ("Encrypt", "Decrypt", "GenerateDataKey")


def setup(server: Server) -> tuple[str, bytes]:
    client = kms_client(server.url)
    key_ids = [client.create_key()["KeyMetadata"]["KeyId"] for _ in range(10)]
    return key_ids[0], client.encrypt(KeyId=key_ids[0], Plaintext=benchlib.PLAINTEXT)["CiphertextBlob"]


def time_verify(calls: int) -> dict[str, Any]:
    """µs per :meth:`SigV4Verifier.verify` of one signed Encrypt request, in this process."""
    store = CredentialStore(parse_credentials({"credentials": [
        {"access_key_id": ACCOUNT, "secret_access_key": SECRET, "account_id": ACCOUNT}]}))
    verifier = SigV4Verifier(store)
    request = crypto_requests(4599, "1234abcd-12ab-34cd-56ef-1234567890ab", b"x" * 100)["Encrypt"]
    headers = CIMultiDict(request.headers)
    headers.setdefault("Host", f"{HOST}:4599")
    verifier.verify("POST", "/", headers, request.body, "kms")  # checks it verifies; fills the key cache
    samples = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(calls):
            verifier.verify("POST", "/", headers, request.body, "kms")
        samples.append((time.perf_counter() - began) / calls * 1e6)
    return {"calls": calls * 5, "median_us": round(statistics.median(samples), 1), "min_us": round(min(samples), 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="1 s windows, 1 round")
    parser.add_argument("--ops", default="Encrypt", help=f"comma-separated, of {','.join(OPERATIONS)} (default "
                                                         "Encrypt)")
    parser.add_argument("--verify-calls", type=int, default=2000, help="calls per sample of the in-process timing")
    parser.add_argument("--out", type=Path, default=Path("bench-sigv4.json"))
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    if args.load == "both":
        parser.error("--load both is not supported here: choose aiohttp or wrk")
    operations = tuple(op.strip() for op in args.ops.split(",") if op.strip())
    if not operations or set(operations) - set(OPERATIONS):
        parser.error(f"--ops takes {', '.join(OPERATIONS)}")
    machine, vers, pin = start_report("hsmsim SigV4 verification: KMS throughput off vs on", args.pin)
    print(f"- load: {args.load}, concurrency {args.concurrency}, {args.rounds} rounds x {args.duration:g} s "
          f"(warm-up {args.warmup:g} s); {pinning_phrase(pin)}")
    verify = time_verify(args.verify_calls)
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {label: {op: [] for op in operations} for label in
                                                         ("off", "on")}
    with tempfile.TemporaryDirectory(prefix="hsmsim-bench-sigv4-") as tmp:
        workdir = Path(tmp)
        credentials = workdir / "credentials.json"
        credentials.write_text(json.dumps({"credentials": [
            {"access_key_id": ACCOUNT, "secret_access_key": SECRET, "account_id": ACCOUNT}]}))
        off_server = hsmsim_server(workdir / "off", name="hsmsim (verification off)", prefix=pin)
        on_server = hsmsim_server(workdir / "on", name="hsmsim --credentials", prefix=pin,
                                  extra=["--credentials", str(credentials)])
        with running(off_server) as off, running(on_server) as on:
            keys = {"off": setup(off), "on": setup(on)}
            servers = {"off": off, "on": on}
            for round_no in range(args.rounds):
                print(f"  round {round_no + 1}/{args.rounds} (signed afresh) ...", file=sys.stderr, flush=True)
                targets = []
                for label, server in servers.items():
                    key_id, ciphertext = keys[label]
                    requests = crypto_requests(server.port, key_id, ciphertext)
                    check_answers(server.port, requests, key_id)
                    targets.append((label, server, requests))
                one_round = SimpleNamespace(**{**vars(args), "rounds": 1})
                measured = benchlib.measure_throughput(targets, operations, one_round, workdir)  # type: ignore[arg-type]
                for label in servers:
                    for op in operations:
                        rounds[label][op].extend(measured[label][op][args.load]["rounds"])
    results = {label: {op: summarize_rounds(runs) for op, runs in by_op.items()} for label, by_op in rounds.items()}
    rows = [["operation", "verification off (req/s)", "on (req/s)", "throughput cost", "server CPU µs/req off → on"]]
    verdicts = {}
    for op in operations:
        off_entry, on_entry = results["off"][op], results["on"][op]
        cost = 1 - on_entry["rps"] / off_entry["rps"] if off_entry["rps"] else float("nan")
        verdicts[op] = {"cost": round(cost, 3), "met": cost <= COST_TARGET and not invalid(off_entry)
                        and not invalid(on_entry)}
        verdict = "met" if verdicts[op]["met"] else "MISSED"
        rows.append([op, fmt_tp(off_entry), fmt_tp(on_entry), f"{cost:+.1%} ({verdict}: target ≤ {COST_TARGET:.0%})",
                     f"{off_entry['server_cpu_us_per_req']:.0f} → {on_entry['server_cpu_us_per_req']:.0f}"])
    print()
    print(markdown_table(rows))
    print(f"\nSigV4Verifier.verify alone (this process, one Encrypt request): {verify['median_us']:.1f} µs per call "
          f"(median of 5 x {args.verify_calls})")
    print(end_line(machine))
    write_json(args.out, {"machine": machine, "versions": vers, "args": {k: str(v) for k, v in vars(args).items()},
                          "verify_in_process": verify, "throughput": results, "verdicts": verdicts})
    return 0 if all(v["met"] for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
