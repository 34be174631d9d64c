"""Start-up time of the HSM layer with many tokens: the repair pass alone, and a whole ``SoftHSM`` open.

Usage: ``.venv/bin/python scripts/bench_startup.py [--tokens 1000] [--objects 4] [--rounds 3]``

One token is made with SoftHSM (an EC key pair and an imported RSA key pair, as an HSM's identity keys: 4 objects)
and copied file by file, with fresh serials, into ``--tokens`` tokens of one cluster (clones share the master key),
then the SoftHSM is closed. Each round then times :func:`hsmsim.hsm.repair.repair` on the directory (nothing to
repair: the cost every start pays) and a full ``SoftHSM(...)`` open (repair + C_Initialize + a login per token),
and finally one open with a damaged object file in every tenth token (each copied again from a clone).
Issue 10's target: start-up with 1,000 HSM tokens after the repair pass within 5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from hsmsim.hsm import SoftHSM
from hsmsim.hsm import tokenfiles as tf
from hsmsim.hsm.keys import generate_ec_keypair, import_rsa_private_key
from hsmsim.hsm.repair import repair
from hsmsim.simulator import render_softhsm_conf

SO_PIN, USER_PIN = "bench-so-pin-0001", "bench-user-pin-0001"


def open_hsm(base: Path) -> SoftHSM:
    return SoftHSM(base / "tokens", render_softhsm_conf(base), SO_PIN, USER_PIN)


def build(base: Path, tokens: int) -> None:
    (base / "tokens").mkdir(parents=True)
    with open_hsm(base) as hsm:
        first = hsm.create_token("hsm-0")
        generate_ec_keypair(hsm, first, "hardware-key")
        import_rsa_private_key(hsm, first, "cluster-key", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        image = tf.load_image(hsm._tokens[first].path)
    taken = {tf.slot_id_of(first)}
    for i in range(1, tokens):
        name, serial = tf.new_token_dirname(taken)
        taken.add(tf.slot_id_of(serial))
        image.token_object.set_bytes(tf.CKA_OS_TOKENSERIAL, serial.encode())
        image.token_object.set_bytes(tf.CKA_OS_TOKENLABEL, tf.encode_label(f"hsm-{i}"))
        tf.write_image(image, base / "tokens" / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hsmsim-bench-startup-"))
    try:
        started = time.perf_counter()
        build(base, args.tokens)
        files = sum(1 for _ in (base / "tokens").glob("*/*.object"))
        print(f"{args.tokens} tokens, {files} object files (token.object included), built in "
              f"{time.perf_counter() - started:.1f} s")
        repairs, opens = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            report = repair(base / "tokens", SO_PIN.encode(), USER_PIN.encode())
            repairs.append(time.perf_counter() - t)
            assert not report, report
            t = time.perf_counter()
            hsm = open_hsm(base)
            opens.append(time.perf_counter() - t)
            assert len(hsm.tokens()) == args.tokens
            hsm.close()
        print(f"repair pass alone:        median {statistics.median(repairs) * 1e3:7.0f} ms  "
              f"(min {min(repairs) * 1e3:.0f}, max {max(repairs) * 1e3:.0f})")
        print(f"SoftHSM open (all of it): median {statistics.median(opens) * 1e3:7.0f} ms  "
              f"(min {min(opens) * 1e3:.0f}, max {max(opens) * 1e3:.0f})")
        damaged = 0
        for i, path in enumerate(sorted(p for p in (base / "tokens").iterdir())):
            if i % 10 == 0:
                (path / tf.object_names(path)[0]).write_bytes(b"")
                damaged += 1
        t = time.perf_counter()
        hsm = open_hsm(base)
        elapsed = time.perf_counter() - t
        print(f"SoftHSM open repairing {damaged} emptied object files from clones: {elapsed * 1e3:.0f} ms "
              f"({len(hsm.repair_report.repaired)} repaired)")
        hsm.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
