"""hsmsim.hsm.locks.RWLock: shared readers, exclusive writers, re-entrant readers, upgrades."""

from __future__ import annotations

import threading
import time

import pytest

from hsmsim.hsm import HSMError
from hsmsim.hsm.locks import RWLock


def in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_readers_share_writers_exclude():
    lock = RWLock()
    events: list[str] = []
    with lock.read():
        t = in_thread(lambda: (lock.acquire_read(), events.append("reader 2"), lock.release_read()))
        t.join(2)
        assert events == ["reader 2"]

        def writer():
            with lock.write():
                events.append("writer")

        w = in_thread(writer)
        time.sleep(0.1)
        assert events == ["reader 2"]  # the writer waits for us
    w.join(2)
    assert events == ["reader 2", "writer"]


def test_writer_preference_and_reentrant_readers():
    lock = RWLock()
    events: list[str] = []
    lock.acquire_read()
    w = in_thread(lambda: (lock.acquire_write(allow_upgrade=False), events.append("writer"),
                           lock.release_write()))
    time.sleep(0.05)
    # A new reader queues behind the waiting writer ...
    r = in_thread(lambda: (lock.acquire_read(), events.append("new reader"), lock.release_read()))
    time.sleep(0.05)
    assert events == []
    # ... but this thread, already a reader, re-enters without deadlock.
    with lock.read():
        pass
    lock.release_read()
    w.join(2)
    r.join(2)
    assert events == ["writer", "new reader"]


def test_upgrade():
    lock = RWLock()
    with lock.read():
        with pytest.raises(HSMError, match="holds a session"):
            lock.acquire_write(allow_upgrade=False)
        with lock.write(allow_upgrade=True):
            assert lock.held_by_me()
            with lock.write():  # re-entrant writer
                pass
            with lock.read():  # a writer may read
                pass
    assert not lock.held_by_me()


def test_upgrade_waits_for_other_readers_and_times_out():
    lock = RWLock()
    release = threading.Event()
    holding = threading.Event()

    def other_reader():
        with lock.read():
            holding.set()
            release.wait(5)

    t = in_thread(other_reader)
    holding.wait(2)
    with lock.read():
        with pytest.raises(HSMError, match="timed out"):
            lock.acquire_write(allow_upgrade=True, timeout=0.1)
        threading.Timer(0.1, release.set).start()
        started = time.monotonic()
        with lock.write(allow_upgrade=True, timeout=5):
            assert time.monotonic() - started >= 0.05
    t.join(2)


def test_two_upgraders_do_not_deadlock():
    lock = RWLock()
    both = threading.Barrier(2)
    results: dict[str, str] = {}

    def upgrader(name: str):
        with lock.read():
            both.wait()
            time.sleep(0.05 if name == "a" else 0.15)
            try:
                with lock.write(allow_upgrade=True, timeout=5):
                    results[name] = "ok"
            except HSMError:
                results[name] = "refused"

    ta, tb = in_thread(lambda: upgrader("a")), in_thread(lambda: upgrader("b"))
    ta.join(10)
    tb.join(10)
    assert sorted(results.values()) == ["ok", "refused"]


def test_release_by_wrong_thread_is_an_error():
    lock = RWLock()
    lock.acquire_write(allow_upgrade=False)
    errors = []

    def bad():
        try:
            lock.release_write()
        except RuntimeError as exc:
            errors.append(exc)

    in_thread(bad).join(2)
    assert errors
    lock.release_write()
