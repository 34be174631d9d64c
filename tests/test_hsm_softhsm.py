"""
hsmsim.hsm.SoftHSM against the real SoftHSM 2.6.1: token lifecycle, snapshots, clones, replication,
restart and failure cleanup.

Each test gets its own token directory and its own SoftHSM instance; instances run one after the
other in this process (close() finalises the library, the next instance initialises it again with its
own SOFTHSM2_CONF). That costs a few milliseconds per test.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import NoSuchKey
from pkcs11.mechanisms import GCMParams

from hsmsim.hsm import HSMError, SoftHSM, TokenCreationError, TokenNotFound
from hsmsim.hsm import tokenfiles as tf

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN, USER_PIN = "so-secret-4711", "user-secret-0815"


GCM = GCMParams(b"\x07" * 12, b"context", 128)


def write_conf(base: Path) -> tuple[Path, Path]:
    token_dir = base / "tokens"
    token_dir.mkdir(parents=True, exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n"
    )
    return token_dir, conf


def open_hsm(base: Path, so_pin: str = SO_PIN, user_pin: str = USER_PIN) -> SoftHSM:
    token_dir, conf = write_conf(base)
    return SoftHSM(token_dir, conf, so_pin, user_pin, module_path=MODULE)


@pytest.fixture
def hsm(tmp_path):
    h = open_hsm(tmp_path)
    yield h
    h.close()


def make_aes_key(h: SoftHSM, serial: str, label: str) -> bytes:
    """A non-extractable AES-256 token key; returns a GCM ciphertext of b'secret' made with it."""
    with h.session(serial, exclusive=True) as s:
        key = s.generate_key(
            KeyType.AES, 256, label=label, store=True, template={Attribute.EXTRACTABLE: False}
        )
        return key.encrypt(b"secret", mechanism=Mechanism.AES_GCM, mechanism_param=GCM)


def decrypt(h: SoftHSM, serial: str, label: str, ciphertext: bytes) -> bytes:
    with h.session(serial) as s:
        key = s.get_key(label=label, key_type=KeyType.AES)
        return key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=GCM)


def token_dirs(h: SoftHSM) -> set[str]:
    return {p.name for p in h._token_dir.iterdir()}


# --- create / list / delete -------------------------------------------------------------------


def test_create_list_delete(hsm: SoftHSM):
    assert hsm.tokens() == {}
    a = hsm.create_token("hsm-a")
    b = hsm.create_token("hsm-b")
    assert hsm.tokens() == {a: "hsm-a", b: "hsm-b"}
    for serial in (a, b):
        assert len(serial) == 16 and int(serial, 16) >= 0
    # Serial = last 16 hex digits of the directory UUID (SoftHSM's convention).
    assert {tf.serial_of_dirname(n) for n in token_dirs(hsm)} == {a, b}
    assert hsm.object_labels(a) == set()

    hsm.delete_token(a)
    assert hsm.tokens() == {b: "hsm-b"}
    assert {tf.serial_of_dirname(n) for n in token_dirs(hsm)} == {b}
    with pytest.raises(TokenNotFound):
        with hsm.session(a):
            pass
    with pytest.raises(TokenNotFound):
        hsm.delete_token(a)
    with pytest.raises(TokenNotFound):
        hsm.object_labels("0123456789abcdef")

    # The library keeps working after an in-process deletion (no re-initialisation needed).
    c = hsm.create_token("hsm-c")
    ct = make_aes_key(hsm, c, "k")
    assert decrypt(hsm, c, "k", ct) == b"secret"
    assert hsm.tokens() == {b: "hsm-b", c: "hsm-c"}


def test_label_is_validated(hsm: SoftHSM):
    with pytest.raises(TokenCreationError):
        hsm.create_token("")
    with pytest.raises(TokenCreationError):
        hsm.create_token("x" * 33)
    serial = hsm.create_token("é" * 16)  # 32 bytes of UTF-8
    assert hsm.tokens()[serial] == "é" * 16
    assert len(token_dirs(hsm)) == 1


def test_serials_give_unique_large_slot_ids(hsm: SoftHSM):
    serials = [hsm.create_token(f"t{i}") for i in range(12)]
    serials.append(hsm.clone(serials[0], "clone"))
    slot_ids = [tf.slot_id_of(s) for s in serials]
    assert len(set(slot_ids)) == len(serials)
    assert min(slot_ids) >= tf.MIN_SLOT_ID
    # Clones follow SoftHSM's directory naming convention too.
    assert {tf.serial_of_dirname(n) for n in token_dirs(hsm)} == set(serials)


def test_create_retries_when_slot_id_clashes(hsm: SoftHSM, monkeypatch):
    rejected: list[str] = []
    real = tf.acceptable_serial

    def reject_first(serial, taken):
        if not rejected:
            rejected.append(serial)
            return False
        return real(serial, taken)

    monkeypatch.setattr(tf, "acceptable_serial", reject_first)
    serial = hsm.create_token("retry")
    assert rejected and rejected[0] != serial
    assert hsm.tokens() == {serial: "retry"}
    assert {tf.serial_of_dirname(n) for n in token_dirs(hsm)} == {serial}  # the reject is gone
    make_aes_key(hsm, serial, "k")
    monkeypatch.undo()
    assert len(hsm.tokens()) == 1 and hsm.create_token("next") in hsm.tokens()


def test_create_failure_leaves_nothing(hsm: SoftHSM, monkeypatch):
    a = hsm.create_token("keep")

    def boom(self, tok):
        raise HSMError("injected failure")

    monkeypatch.setattr(SoftHSM, "_init_user_pin", boom)
    with pytest.raises(TokenCreationError):
        hsm.create_token("doomed")
    assert hsm.tokens() == {a: "keep"}
    assert {tf.serial_of_dirname(n) for n in token_dirs(hsm)} == {a}
    monkeypatch.undo()
    b = hsm.create_token("after")
    assert set(hsm.tokens()) == {a, b}


# --- snapshot / restore / clone / replicate ---------------------------------------------------


def test_snapshot_restore_decrypts_original_ciphertext(hsm: SoftHSM, tmp_path):
    a = hsm.create_token("hsm-a")
    ct = make_aes_key(hsm, a, "aes-1")
    with hsm.session(a) as s:
        s.generate_keypair(KeyType.RSA, 2048, label="rsa-1", store=True)
    snap = tmp_path / "backups" / "b1"
    snap.parent.mkdir()
    hsm.snapshot(a, snap)
    assert (snap / "token.object").is_file() and (snap / "generation").is_file()
    assert len(tf.object_names(snap)) == 3
    with pytest.raises(HSMError):
        hsm.snapshot(a, snap)  # destination exists

    # Objects added after the snapshot are not part of it.
    make_aes_key(hsm, a, "later")
    epoch = hsm.epoch
    r = hsm.restore(snap, "restored")
    assert hsm.epoch > epoch
    assert r != a and hsm.tokens() == {a: "hsm-a", r: "restored"}
    assert hsm.object_labels(r) == {"aes-1", "rsa-1"}
    assert decrypt(hsm, r, "aes-1", ct) == b"secret"
    with hsm.session(r) as s:
        key = s.get_key(label="aes-1", key_type=KeyType.AES)
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.LOCAL] is True  # full fidelity, unlike wrap/unwrap (§6.2)
    # The original still works after the re-initialisation.
    assert decrypt(hsm, a, "aes-1", ct) == b"secret"
    assert hsm.object_labels(a) == {"aes-1", "rsa-1", "later"}
    # The snapshot is untouched and can be restored again.
    r2 = hsm.restore(snap, "restored-again")
    assert len({a, r, r2}) == 3 and decrypt(hsm, r2, "aes-1", ct) == b"secret"


def test_clone_and_replicate(hsm: SoftHSM):
    a = hsm.create_token("hsm-a")
    ct1 = make_aes_key(hsm, a, "k1")
    b = hsm.clone(a, "hsm-b")
    c = hsm.clone(a, "hsm-c")
    assert hsm.object_labels(b) == hsm.object_labels(c) == {"k1"}

    # New key on the source, replicated: usable on the targets.
    ct2 = make_aes_key(hsm, a, "k2")
    hsm.replicate(a, [b, c, a, b])  # the source and duplicates are ignored
    for t in (b, c):
        assert hsm.object_labels(t) == {"k1", "k2"}
        assert decrypt(hsm, t, "k2", ct2) == b"secret"

    # A changed object is replicated (a running process reloads it).
    with hsm.session(a) as s:
        s.get_key(label="k1")[Attribute.LABEL] = "k1-renamed"
    hsm.replicate(a, [b])
    assert hsm.object_labels(b) == {"k1-renamed", "k2"}
    assert decrypt(hsm, b, "k1-renamed", ct1) == b"secret"

    # A destroyed object disappears from the targets.
    with hsm.session(a) as s:
        s.get_key(label="k2").destroy()
    hsm.replicate(a, [b, c])
    assert hsm.object_labels(b) == {"k1-renamed"}
    assert hsm.object_labels(c) == {"k1-renamed"}  # c missed the rename round and caught up
    assert decrypt(hsm, c, "k1-renamed", ct1) == b"secret"
    with hsm.session(b) as s, pytest.raises(NoSuchKey):
        s.get_key(label="k2")
    hsm.replicate(a, [b])  # idempotent
    assert hsm.object_labels(b) == {"k1-renamed"}


def test_replicate_is_seen_by_an_open_session(hsm: SoftHSM):
    a = hsm.create_token("a")
    b = hsm.clone(a, "b")
    ct = make_aes_key(hsm, a, "fresh")
    with hsm.session(b) as s:
        with pytest.raises(NoSuchKey):
            s.get_key(label="fresh")
        hsm.replicate(a, [b])  # this thread's own session does not block it
        key = s.get_key(label="fresh")
        assert key.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=GCM) == b"secret"


def test_replicate_refuses_unrelated_tokens(hsm: SoftHSM):
    a = hsm.create_token("a")
    other = hsm.create_token("other")  # its own master key
    make_aes_key(hsm, a, "k")
    with pytest.raises(HSMError, match="not a clone"):
        hsm.replicate(a, [other])
    assert hsm.object_labels(other) == set()
    with pytest.raises(TokenNotFound):
        hsm.replicate(a, ["0123456789abcdef"])


def test_restart_sees_everything(tmp_path):
    h = open_hsm(tmp_path)
    a = h.create_token("hsm-a")
    ct = make_aes_key(h, a, "k1")
    b = h.clone(a, "hsm-b")
    c = h.create_token("hsm-c")
    make_aes_key(h, a, "k2")
    h.replicate(a, [b])
    h.delete_token(c)
    d = h.create_token("hsm-d")
    before = h.tokens()
    h.close()
    with pytest.raises(HSMError):
        h.tokens()

    h2 = open_hsm(tmp_path)
    try:
        assert h2.tokens() == before == {a: "hsm-a", b: "hsm-b", d: "hsm-d"}
        assert h2.object_labels(a) == h2.object_labels(b) == {"k1", "k2"}
        assert decrypt(h2, b, "k1", ct) == b"secret"
        assert decrypt(h2, a, "k1", ct) == b"secret"
        make_aes_key(h2, d, "new")
        h2.replicate(a, [b])
    finally:
        h2.close()


def test_one_instance_at_a_time(tmp_path):
    h = open_hsm(tmp_path / "one")
    try:
        with pytest.raises(HSMError, match="another SoftHSM"):
            open_hsm(tmp_path / "two")
    finally:
        h.close()
    h.close()  # idempotent
    with open_hsm(tmp_path / "two") as h2:
        assert h2.tokens() == {}


# --- failure handling -------------------------------------------------------------------------


def _corrupt_variants(h: SoftHSM, good: Path, tmp_path: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}

    def variant(name: str) -> Path:
        dest = tmp_path / "corrupt" / name
        shutil.copytree(good, dest)
        out[name] = dest
        return dest

    d = variant("truncated-token-object")
    raw = (d / "token.object").read_bytes()
    (d / "token.object").write_bytes(raw[: len(raw) // 2])
    d = variant("garbage-object-file")
    (d / tf.object_names(d)[0]).write_bytes(b"\x00" * 8 + b"\xff" * 40)
    d = variant("no-token-object")
    (d / "token.object").unlink()
    d = variant("bad-user-pin-blob")  # parses, but the master key cannot be unwrapped
    obj = tf.read_object(d / "token.object")
    blob = bytearray(obj.get_bytes(tf.CKA_OS_USERPIN))
    blob[-1] ^= 0xFF
    blob[-20] ^= 0xFF
    obj.set_bytes(tf.CKA_OS_USERPIN, bytes(blob))
    (d / "token.object").write_bytes(obj.encode())
    d = variant("undecryptable-object")  # parses, but its encrypted attributes are damaged
    name = tf.object_names(d)[0]
    obj = tf.read_object(d / name)
    obj.records = [
        (t, k, raw[:-1] + bytes([raw[-1] ^ 0x55]) if k == tf.KIND_BYTES and len(raw) > 8 else raw)
        for t, k, raw in obj.records
    ]
    (d / name).write_bytes(obj.encode())
    out["missing"] = tmp_path / "corrupt" / "does-not-exist"
    return out


def test_restore_of_corrupt_snapshot_leaves_nothing(hsm: SoftHSM, tmp_path):
    a = hsm.create_token("a")
    ct = make_aes_key(hsm, a, "k")
    good = tmp_path / "good"
    hsm.snapshot(a, good)
    before = token_dirs(hsm)
    for name, snap in _corrupt_variants(hsm, good, tmp_path).items():
        with pytest.raises(TokenCreationError):
            hsm.restore(snap, f"from-{name}")
        assert token_dirs(hsm) == before, name
        assert hsm.tokens() == {a: "a"}, name
        staging = hsm._work_dir
        assert not staging.exists() or not [p for p in staging.iterdir() if p.is_dir()], name
    assert decrypt(hsm, a, "k", ct) == b"secret"
    assert hsm.restore(good, "fine") in hsm.tokens()


def test_restore_of_foreign_token_fails_cleanly(hsm: SoftHSM, tmp_path):
    """A token made with other PINs (another server's backup) cannot be logged in to."""
    token_dir, conf = write_conf(tmp_path / "foreign")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "foreign",
         "--so-pin", "other-so-pin", "--pin", "other-user-pin"],
        env=env, check=True, capture_output=True,
    )
    (foreign,) = list(token_dir.iterdir())
    before = token_dirs(hsm)
    with pytest.raises(TokenCreationError):
        hsm.restore(foreign, "foreign")
    assert token_dirs(hsm) == before and hsm.tokens() == {}
    a = hsm.create_token("still-fine")
    make_aes_key(hsm, a, "k")


def test_restore_refused_while_holding_a_session(hsm: SoftHSM, tmp_path):
    a = hsm.create_token("a")
    hsm.snapshot(a, tmp_path / "snap")
    with hsm.session(a):
        with pytest.raises(HSMError, match="holds a session"):
            hsm.restore(tmp_path / "snap", "b")
        with pytest.raises(HSMError, match="holds a session"):
            hsm.clone(a, "b")
    assert hsm.tokens() == {a: "a"}
    assert len(token_dirs(hsm)) == 1


def test_delete_while_holding_a_session_on_it(hsm: SoftHSM):
    a = hsm.create_token("a")
    with hsm.session(a):
        hsm.delete_token(a)
    assert hsm.tokens() == {}
    assert token_dirs(hsm) == set()


def test_clashing_serials_on_disk_are_refused_not_fatal(tmp_path):
    h = open_hsm(tmp_path)
    a = h.create_token("a")
    (src,) = list(h._token_dir.iterdir())
    h.close()
    # A verbatim copy has the same serial: SoftHSM itself would abort the process (§6.3).
    shutil.copytree(src, src.with_name("00000000-0000-0000-" + src.name[-17:]))
    with pytest.raises(HSMError, match="share slot id"):
        open_hsm(tmp_path)
    assert a
    # The process is fine and a good directory still opens.
    with open_hsm(tmp_path / "other") as h2:
        assert h2.tokens() == {}


def test_wrong_pin_is_reported_without_the_pin(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    h = open_hsm(tmp_path)
    a = h.create_token("a")
    make_aes_key(h, a, "k")
    b = h.clone(a, "b")
    h.delete_token(b)
    text = repr(h)
    h.close()
    with pytest.raises(HSMError) as info:
        open_hsm(tmp_path, user_pin="not-the-right-pin")
    for secret in (SO_PIN, USER_PIN, "not-the-right-pin"):
        assert secret not in str(info.value)
        assert secret not in caplog.text
        assert secret not in text
    assert "CKR_PIN_INCORRECT" in str(info.value)
    # Nothing was leaked: the right PIN still works in a new instance.
    with open_hsm(tmp_path) as h2:
        assert h2.object_labels(a) == {"k"}


def test_session_survives_errors_and_pool_is_reused(hsm: SoftHSM):
    a = hsm.create_token("a")
    ct = make_aes_key(hsm, a, "k")
    with hsm.session(a) as s1:
        handle = s1.handle
    with hsm.session(a) as s2:
        assert s2.handle == handle  # pooled
    with pytest.raises(Exception):
        with hsm.session(a) as s:
            key = s.get_key(label="k")
            key.decrypt(ct[:-1] + bytes([ct[-1] ^ 1]), mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCM)
    assert decrypt(hsm, a, "k", ct) == b"secret"
    with hsm.session(a) as s:
        objs = list(s.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))
        assert len(objs) == 1
