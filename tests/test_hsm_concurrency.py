"""
Threads against hsmsim.hsm.SoftHSM: without CKF_OS_LOCKING_OK these crash the process within seconds
(softhsm-facts.md §7), so a clean run is the test. Also checks that re-initialisations (clone) and
deletions wait for in-flight sessions.
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback

import pytest
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11.mechanisms import GCMParams

from hsmsim.hsm import SoftHSM, TokenNotFound

MODULE = "/usr/lib/softhsm/libsofthsm2.so"

STRESS_SECONDS = float(os.environ.get("HSMSIM_STRESS_SECONDS", "2"))


@pytest.fixture
def hsm(tmp_path):
    token_dir = tmp_path / "tokens"
    token_dir.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n"
    )
    h = SoftHSM(token_dir, conf, "so-pin-stress", "user-pin-stress", module_path=MODULE)
    yield h
    h.close()


def gcm(iv: bytes) -> GCMParams:
    return GCMParams(iv, b"aad", 128)


def new_key(h: SoftHSM, serial: str, label: str) -> None:
    with h.session(serial, exclusive=True) as s:
        s.generate_key(KeyType.AES, 256, label=label, store=True, template={Attribute.EXTRACTABLE: False})


def round_trip(s, label: str, rnd: random.Random) -> None:
    key = s.get_key(label=label, key_type=KeyType.AES)
    iv = rnd.randbytes(12)
    data = rnd.randbytes(rnd.choice((16, 300, 4096)))
    ct = key.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=gcm(iv))
    assert key.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=gcm(iv)) == data


def _dirname(h: SoftHSM, serial: str) -> str:
    return next(p.name for p in h._token_dir.iterdir() if p.name.replace("-", "").endswith(serial))


def run_threads(targets, seconds: float) -> list[BaseException]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def wrap(fn):
        def body():
            try:
                fn(stop)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                traceback.print_exc()
                errors.append(exc)
                stop.set()
        return body

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a thread hung"
    return errors


def test_threads_do_crypto_keygen_and_search_on_several_tokens(hsm: SoftHSM):
    a = hsm.create_token("a")
    new_key(hsm, a, "k")
    b = hsm.clone(a, "b")
    c = hsm.create_token("c")
    new_key(hsm, c, "k")
    counts: dict[str, int] = {}

    def worker(seed: int):
        def loop(stop: threading.Event):
            rnd = random.Random(seed)
            n = 0
            while not stop.is_set():
                serial = rnd.choice((a, b, c))
                with hsm.session(serial) as s:
                    round_trip(s, "k", rnd)
                    s.generate_random(128)
                    assert len(list(s.get_objects({Attribute.LABEL: "k"}))) == 1
                if serial == c and rnd.random() < 0.1:
                    # Token-object creation must not overlap C_FindObjects on the same token.
                    with hsm.session(c, exclusive=True) as s:
                        label = f"tmp-{seed}-{n}"
                        s.generate_key(KeyType.AES, 256, label=label, store=True)
                        round_trip(s, label, rnd)
                        s.get_key(label=label).destroy()
                n += 1
            counts[f"w{seed}"] = n
        return loop

    errors = run_threads([worker(i) for i in range(6)], STRESS_SECONDS)
    assert not errors, errors
    assert sum(counts.values()) > 100, counts
    assert hsm.object_labels(c) == {"k"}  # no half-written objects left behind
    assert len(list((hsm._token_dir / _dirname(hsm, c)).glob("*.object"))) == 2  # k + token.object


def test_threads_keep_working_through_clone_replicate_and_delete(hsm: SoftHSM):
    """Re-initialisations (clone) and replication under load: sessions wait, nothing breaks."""
    a = hsm.create_token("a")
    new_key(hsm, a, "k")
    b = hsm.clone(a, "b")
    admin_rounds = []

    def worker(seed: int):
        def loop(stop: threading.Event):
            rnd = random.Random(seed)
            while not stop.is_set():
                with hsm.session(rnd.choice((a, b))) as s:
                    round_trip(s, "k", rnd)
        return loop

    def admin(stop: threading.Event):
        rnd = random.Random(99)
        n = 0
        while not stop.is_set():
            x = hsm.clone(a, f"tmp-{n}")
            with hsm.session(x) as s:
                round_trip(s, "k", rnd)
            hsm.delete_token(x)
            new_key(hsm, a, f"r{n}")
            hsm.replicate(a, [b])
            assert f"r{n}" in hsm.object_labels(b)
            with hsm.session(a) as s:
                s.get_key(label=f"r{n}").destroy()
            hsm.replicate(a, [b])
            n += 1
        admin_rounds.append(n)

    epoch = hsm.epoch
    errors = run_threads([worker(i) for i in range(4)] + [admin], STRESS_SECONDS)
    assert not errors, errors
    assert admin_rounds and admin_rounds[0] >= 2
    assert hsm.epoch >= epoch + admin_rounds[0]
    assert hsm.tokens() == {a: "a", b: "b"}
    assert hsm.object_labels(a) == hsm.object_labels(b) == {"k"}


def test_restore_waits_for_in_flight_sessions(hsm: SoftHSM):
    a = hsm.create_token("a")
    new_key(hsm, a, "k")
    inside, release = threading.Event(), threading.Event()
    log: list[str] = []

    def holder():
        with hsm.session(a) as s:
            inside.set()
            release.wait(5)
            round_trip(s, "k", random.Random(1))  # still valid: no re-initialisation yet
            log.append("holder done")

    t = threading.Thread(target=holder)
    t.start()
    inside.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    clone = hsm.clone(a, "b")
    log.append("clone done")
    t.join(5)
    assert log == ["holder done", "clone done"]
    assert time.monotonic() - started >= 0.25
    assert hsm.object_labels(clone) == {"k"}


def test_delete_under_load_gives_token_not_found(hsm: SoftHSM):
    a = hsm.create_token("a")
    new_key(hsm, a, "k")
    keep = hsm.create_token("keep")
    new_key(hsm, keep, "k")
    outcome: dict[int, BaseException | None] = {}
    started = threading.Barrier(5)

    def worker(i: int):
        rnd = random.Random(i)
        started.wait()
        try:
            while True:
                with hsm.session(a) as s:
                    round_trip(s, "k", rnd)
        except BaseException as exc:  # noqa: BLE001
            outcome[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)
    hsm.delete_token(a)
    for t in threads:
        t.join(10)
    assert all(isinstance(e, TokenNotFound) for e in outcome.values()), outcome
    assert len(outcome) == 4
    with hsm.session(keep) as s:
        round_trip(s, "k", random.Random(0))


def test_exclusive_session_keeps_other_sessions_out(hsm: SoftHSM):
    a = hsm.create_token("a")
    other = hsm.create_token("other")
    new_key(hsm, a, "k")
    log: list[str] = []
    inside = threading.Event()

    def exclusive_holder():
        with hsm.session(a, exclusive=True) as s:
            inside.set()
            time.sleep(0.3)
            s.generate_key(KeyType.AES, 128, label="made-alone", store=True)
            log.append("exclusive done")

    t = threading.Thread(target=exclusive_holder)
    t.start()
    inside.wait(5)
    with hsm.session(other):  # other tokens are not blocked
        log.append("other token")
    with hsm.session(a) as s:
        log.append("shared session")
        assert s.get_key(label="made-alone")
    t.join(5)
    assert log == ["other token", "exclusive done", "shared session"]
    # Upgrading from a shared to an exclusive session in one thread works.
    with hsm.session(a) as s1, hsm.session(a, exclusive=True) as s2:
        assert s1.handle != s2.handle
