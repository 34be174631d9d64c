"""The start-up repair of the HSM layer (hsmsim.hsm.repair) against the real SoftHSM 2.6.1, in process.

Each test makes tokens with a real SoftHSM, closes it (a stopped data dir), plants what a kill -9 at the wrong
instant leaves (measured with strace: SoftHSM rewrites a file in place, attribute by attribute), opens a new
SoftHSM on the same directory and checks that it starts, what was repaired, what was set aside in the quarantine
beside ``tokens/`` with one log line, and that the tokens work.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11.util.ec import encode_named_curve_parameters
from test_hsm_softhsm import GCM, SO_PIN, USER_PIN, decrypt, make_aes_key, open_hsm

from hsmsim.hsm import SoftHSM
from hsmsim.hsm import tokenfiles as tf
from hsmsim.hsm.repair import CKA_TOKEN, CKA_VALUE, object_problem


def token_path(h: SoftHSM, serial: str) -> Path:
    return h._tokens[serial].path


def quarantine(base: Path) -> list[str]:
    q = base / "quarantine"
    return sorted(p.name for p in q.iterdir()) if q.exists() else []


def repair_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hsmsim.hsm.repair" and r.levelno >= logging.WARNING]


def object_of(path: Path) -> str:
    """The name of the only object file of a token directory."""
    (name,) = tf.object_names(path)
    return name


def two_clones(base: Path) -> tuple[str, str, bytes, Path, Path]:
    """Token a with one AES key, cloned to b (same master key, same object file names); the SoftHSM is closed."""
    h = open_hsm(base)
    a = h.create_token("hsm-a")
    ct = make_aes_key(h, a, "k1")
    b = h.clone(a, "hsm-b")
    pa, pb = token_path(h, a), token_path(h, b)
    h.close()
    return a, b, ct, pa, pb


def test_real_objects_are_whole(tmp_path: Path):
    """No false alarm: every kind of object the simulator stores passes the completeness check."""
    with open_hsm(tmp_path) as h:
        a = h.create_token("a")
        make_aes_key(h, a, "aes")
        with h.session(a, exclusive=True) as s:
            s.generate_keypair(KeyType.RSA, 2048, label="rsa", store=True)
            s.generate_keypair(KeyType.EC, label="ec", store=True,
                               public_template={Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")})
            s.generate_key(KeyType.GENERIC_SECRET, 256, label="hmac", store=True)
            s.create_object({Attribute.CLASS: 0, Attribute.TOKEN: True, Attribute.LABEL: "data",
                             Attribute.VALUE: b"payload"})
        path = token_path(h, a)
        names = tf.object_names(path)
        assert len(names) == 7
        assert {n: object_problem((path / n).read_bytes()) for n in names} == {n: None for n in names}


def test_object_problems_of_each_intermediate_state(tmp_path: Path):
    with open_hsm(tmp_path) as h:
        a = h.create_token("a")
        make_aes_key(h, a, "aes")
        path = token_path(h, a)
    raw = (path / object_of(path)).read_bytes()
    obj = tf.parse_object(raw)
    assert object_problem(b"") == "empty"
    assert "truncated" in object_problem(raw[:8 + 20])
    # SoftHSM's first write: the leading counter only; then one default attribute after another, CKA_TOKEN false.
    assert object_problem(raw[:8]) == "half-written (CKA_TOKEN not set)"
    defaults = tf.ObjectFile(obj.generation, [(t, k, b"\x00" if t == CKA_TOKEN else r) for t, k, r in obj.records])
    assert object_problem(defaults.encode()) == "half-written (CKA_TOKEN not set)"
    # After the template's transaction, before the key value's.
    template_only = tf.ObjectFile(obj.generation, list(obj.records))
    template_only.set_bytes(CKA_VALUE, b"")
    assert object_problem(template_only.encode()) == "half-written (no key value)"


def test_token_without_user_pin_from_a_creation_cut_short(tmp_path: Path, caplog):
    """C_InitToken done, C_InitPIN not (the kill of bug 1): the next start used to fail in C_Login."""
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        good = h.create_token("good")
        ct = make_aes_key(h, good, "k")
        slot = h._free_slot()
        h._ck.init_token(slot, SO_PIN.encode(), tf.encode_label("half"))
    half_dirs = [p for p in (tmp_path / "tokens").iterdir() if tf.serial_of_dirname(p.name) != good]
    assert len(half_dirs) == 1 and not tf.read_object(half_dirs[0] / tf.TOKEN_OBJECT).get_bytes(tf.CKA_OS_USERPIN)

    with open_hsm(tmp_path) as h:
        tokens = h.tokens()
        (half,) = [s for s, label in tokens.items() if label == "half"]
        assert decrypt(h, good, "k", ct) == b"secret"
        make_aes_key(h, half, "new")  # the repaired token logs in and stores keys
        assert h.object_labels(half) == {"new"}
    assert repair_lines(caplog) == [f"token {half} had no user PIN (a creation cut short): set it again from its SO PIN blob"]
    assert quarantine(tmp_path) == []
    for secret in (SO_PIN, USER_PIN):
        assert secret not in caplog.text


def test_token_that_lost_its_user_pin_keeps_its_keys(tmp_path: Path, caplog):
    """The user-PIN blob and flag removed from an HSM with keys: repaired from the SO-PIN blob, every key works."""
    a, b, ct, pa, pb = two_clones(tmp_path)
    obj = tf.read_object(pb / tf.TOKEN_OBJECT)
    obj.records = [r for r in obj.records if r[0] != tf.CKA_OS_USERPIN]
    (pb / tf.TOKEN_OBJECT).write_bytes(obj.encode())
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        assert h.tokens() == {a: "hsm-a", b: "hsm-b"}
        assert decrypt(h, b, "k1", ct) == b"secret"
        ct2 = make_aes_key(h, a, "k2")
        h.replicate(a, [b])  # still a clone of a: the same master key under another user-PIN blob
        assert decrypt(h, b, "k2", ct2) == b"secret"
        assert set(h.object_index(b).values()) == set(h.object_index(a).values())
    assert len(repair_lines(caplog)) == 1


def test_foreign_token_without_user_pin_is_quarantined(tmp_path: Path, caplog):
    with open_hsm(tmp_path, so_pin="another-so-pin") as h:
        h._ck.init_token(h._free_slot(), b"another-so-pin", tf.encode_label("foreign"))
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        assert h.tokens() == {}
    (moved,) = quarantine(tmp_path)
    assert len(repair_lines(caplog)) == 1 and "the SO PIN is not ours" in repair_lines(caplog)[0]
    assert (tmp_path / "quarantine" / moved / tf.TOKEN_OBJECT).is_file()


@pytest.mark.parametrize("content", [None, b"", b"\x00" * 5])
def test_half_made_token_directory_is_quarantined(tmp_path: Path, caplog, content):
    """A kill inside C_InitToken (bug 3): a directory with no, an empty or a torn token.object."""
    with open_hsm(tmp_path) as h:
        a = h.create_token("a")
        ct = make_aes_key(h, a, "k")
    half = tmp_path / "tokens" / "11111111-2222-3333-4444-555555555555"
    half.mkdir()
    if content is not None:
        (half / tf.TOKEN_OBJECT).write_bytes(content)
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        assert h.tokens() == {a: "a"}
        assert decrypt(h, a, "k", ct) == b"secret"
    assert not half.exists()
    assert [n.split("-", 1)[1] for n in quarantine(tmp_path)] == [half.name]
    (line,) = repair_lines(caplog)
    assert "half-made token directory" in line
    caplog.clear()
    with open_hsm(tmp_path) as h:  # and it is not found again
        assert h.tokens() == {a: "a"}
    assert repair_lines(caplog) == []


def test_empty_object_is_copied_again_from_a_clone(tmp_path: Path, caplog):
    a, b, ct, pa, pb = two_clones(tmp_path)
    name = object_of(pb)
    (pb / name).write_bytes(b"")
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        assert decrypt(h, b, "k1", ct) == b"secret"
        assert h.object_index(b) == h.object_index(a)
    assert (pb / name).read_bytes() == (pa / name).read_bytes()
    assert quarantine(tmp_path) == []
    (line,) = repair_lines(caplog)
    assert "was empty: copied again from the same object of clone" in line


@pytest.mark.parametrize("damage", ["empty", "torn", "half-written"])
def test_damaged_object_without_a_whole_copy_is_quarantined(tmp_path: Path, caplog, damage):
    """A kill during key generation (bug 2): the new object exists on one token only, damaged."""
    a, b, ct, pa, pb = two_clones(tmp_path)
    with open_hsm(tmp_path) as h:
        make_aes_key(h, a, "unfinished")
    name = (set(tf.object_names(pa)) - set(tf.object_names(pb))).pop()
    raw = (pa / name).read_bytes()
    (pa / name).write_bytes({"empty": b"", "torn": raw[: len(raw) // 2], "half-written": raw[:8]}[damage])
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        assert h.object_labels(a) == {"k1"}
        assert decrypt(h, a, "k1", ct) == b"secret"
        assert h.object_index(a) == h.object_index(b)  # what "key list" and drift repair read
        h.snapshot(a, tmp_path / "snapshot")  # what backups, CreateHsm and DeleteHsm need
        ct2 = make_aes_key(h, a, "after")
        h.replicate(a, [b])
        assert decrypt(h, b, "after", ct2) == b"secret"
    assert not (pa / name).exists() and not (pa / name.replace(".object", ".lock")).exists()
    (moved,) = quarantine(tmp_path)
    assert moved.endswith(f"-{pa.name}-{name}")
    (line,) = repair_lines(caplog)
    assert "no clone holds it whole" in line


def test_leftovers_and_generation(tmp_path: Path, caplog):
    a, b, ct, pa, pb = two_clones(tmp_path)
    (pa / ("x.object" + tf.TMP_SUFFIX)).write_bytes(b"partial")
    (pb / tf.GENERATION).write_bytes(b"")
    caplog.set_level(logging.INFO)
    with open_hsm(tmp_path) as h:
        assert h.repair_report.removed_temporaries == 1
        assert decrypt(h, b, "k1", ct) == b"secret"
        ct2 = make_aes_key(h, a, "k2")
        h.replicate(a, [b])
        with h.session(b) as s:
            key = s.get_key(label="k2", key_type=KeyType.AES)
            assert key.decrypt(ct2, mechanism=Mechanism.AES_GCM, mechanism_param=GCM) == b"secret"
    assert not list(pa.glob("*" + tf.TMP_SUFFIX))
    assert len((pb / tf.GENERATION).read_bytes()) == 8
    assert len(repair_lines(caplog)) == 1
