"""
hsmsim.hsm.tokenfiles: SoftHSM 2.6.1's object-file format, serial/slot-id rules, token images.

Real token files are made out of process with softhsm2-util and pkcs11-tool, so these tests do not load
the library in this process.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from hsmsim.hsm import TokenFormatError
from hsmsim.hsm import tokenfiles as tf

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def u64(v: int) -> bytes:
    return struct.pack(">Q", v)


@pytest.fixture(scope="module")
def real_token(tmp_path_factory) -> Path:
    """A token with AES, RSA and EC keys, made by the command-line tools."""
    base = tmp_path_factory.mktemp("cli")
    token_dir = base / "tokens"
    token_dir.mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))

    def run(*args: str) -> None:
        subprocess.run(args, env=env, check=True, capture_output=True)

    run("softhsm2-util", "--init-token", "--free", "--label", "cli-token",
        "--so-pin", "so-pin-cli", "--pin", "user-pin-cli")
    p11 = ["pkcs11-tool", "--module", MODULE, "--token-label", "cli-token", "--login",
           "--pin", "user-pin-cli"]
    run(*p11, "--keygen", "--key-type", "AES:32", "--label", "aes")
    run(*p11, "--keypairgen", "--key-type", "rsa:2048", "--label", "rsa")
    run(*p11, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "ec")
    (path,) = list(token_dir.iterdir())
    return path


def test_real_files_round_trip_byte_exact(real_token: Path):
    names = tf.object_names(real_token)
    assert len(names) == 5  # aes + 2 x (public, private)
    kinds = set()
    for name in [*names, tf.TOKEN_OBJECT]:
        raw = (real_token / name).read_bytes()
        obj = tf.parse_object(raw)
        assert obj.encode() == raw
        assert obj.body() == raw[8:]
        kinds |= {k for _, k, _ in obj.records}
    # Key objects use every kind: bool, ulong, bytes, attribute maps (templates) and mechanism sets.
    assert kinds == {1, 2, 3, 4, 5}


def test_token_object_fields(real_token: Path):
    obj = tf.parse_token_object((real_token / tf.TOKEN_OBJECT).read_bytes())
    assert obj.get_bytes(tf.CKA_OS_TOKENLABEL) == b"cli-token".ljust(32)
    serial = tf.token_serial(obj)
    assert serial == tf.serial_of_dirname(real_token.name)
    assert len(obj.get_bytes(tf.CKA_OS_SOPIN)) > 0 and len(obj.get_bytes(tf.CKA_OS_USERPIN)) > 0

    obj.set_bytes(tf.CKA_OS_TOKENSERIAL, b"0123456789abcdef")
    obj.set_bytes(tf.CKA_OS_TOKENLABEL, tf.encode_label("patched"))
    again = tf.parse_token_object(obj.encode())
    assert tf.token_serial(again) == "0123456789abcdef"
    assert again.get_bytes(tf.CKA_OS_TOKENLABEL) == b"patched".ljust(32)
    # Same-length values: the file size does not change.
    assert len(again.encode()) == (real_token / tf.TOKEN_OBJECT).stat().st_size


def test_load_and_write_image(real_token: Path, tmp_path: Path):
    image = tf.load_image(real_token)
    assert image.serial == tf.serial_of_dirname(real_token.name)
    assert set(image.objects) == set(tf.object_names(real_token))
    dest = tmp_path / "copy"
    tf.write_image(image, dest)
    for name in [*image.objects, tf.TOKEN_OBJECT]:
        assert (dest / name).read_bytes() == (real_token / name).read_bytes()
        assert (dest / (name[: -len(".object")] + ".lock")).exists()
    assert tf.read_generation(dest) == max(tf.read_generation(real_token), 1)
    assert oct((dest / tf.TOKEN_OBJECT).stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError):
        tf.write_image(image, dest)
    assert tf.scan_token_dirs(tmp_path) == {image.serial: dest}


def test_parse_rejects_damage():
    good = u64(7) + u64(0x3) + u64(3) + u64(2) + b"ab" + u64(0x1) + u64(1) + b"\xff"
    obj = tf.parse_object(good)
    assert obj.generation == 7 and obj.get_bytes(0x3) == b"ab"
    for bad in (
        b"",                                  # no generation
        good[:-1],                            # truncated value
        good + u64(5),                        # truncated record
        u64(1) + u64(0x3) + u64(9) + u64(0),  # unknown kind
        u64(1) + u64(0x3) + u64(3) + u64(1 << 40),  # absurd length
        u64(1) + u64(0x3) + u64(4) + u64(16) + u64(1) + u64(1) + b"\x00",  # map length mismatch
    ):
        with pytest.raises(TokenFormatError):
            tf.parse_object(bad)
    # A token.object must carry label, serial and both PIN blobs.
    with pytest.raises(TokenFormatError):
        tf.parse_token_object(good)


def test_attribute_map_parsing():
    inner = u64(0x100) + u64(2) + u64(0x1F) + u64(0x101) + u64(3) + u64(1) + b"z"
    inner += u64(0x102) + u64(5) + u64(2) + u64(1) + u64(2)
    raw = u64(1) + u64(0x40000211) + u64(4) + u64(len(inner)) + inner
    obj = tf.parse_object(raw)
    assert obj.encode() == raw and obj.records[0][1] == tf.KIND_ATTRMAP


def test_serials_and_slot_ids(monkeypatch):
    assert tf.slot_id_of("0000000080000005") == 5  # the top bit is masked off
    assert tf.slot_id_of("abcdef0112345678") == 0x12345678
    assert tf.serial_of_dirname("0067dbe5-67fb-5020-a496-8c2886b55de5") == "a4968c2886b55de5"
    assert not tf.acceptable_serial("0000000000000003", set())  # would clash with a free slot
    assert not tf.acceptable_serial("0000000012345678", {0x12345678})
    assert tf.acceptable_serial("0000000012345678", {0x12345679})

    names = iter([
        "00000000-0000-0000-0000-000000000007",  # slot id 7: too small
        "00000000-0000-0000-0000-000012345678",  # taken
        "00000000-0000-0000-0000-00007fedcba9",
    ])
    monkeypatch.setattr(tf.uuid, "uuid4", lambda: next(names))
    name, serial = tf.new_token_dirname({0x12345678})
    assert name.endswith("7fedcba9") and serial == "000000007fedcba9"


def test_label_encoding():
    assert tf.encode_label("hsm-1") == b"hsm-1".ljust(32)
    assert len(tf.encode_label("ü" * 16)) == 32
    for bad in ("", "x" * 33, "ü" * 17):
        with pytest.raises(ValueError):
            tf.encode_label(bad)


def test_generation_and_atomic_write(tmp_path: Path):
    assert tf.read_generation(tmp_path) == 0
    tf.bump_generation(tmp_path)
    tf.bump_generation(tmp_path)
    assert tf.read_generation(tmp_path) == 2
    assert (tmp_path / "generation").read_bytes() == u64(2)
    tf.write_atomic(tmp_path / "x.object", b"data")
    assert (tmp_path / "x.object").read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir() if tf.TMP_SUFFIX in p.name] == []


def test_remove_tree(tmp_path: Path):
    victim = tmp_path / "tokens" / "dir"
    victim.mkdir(parents=True)
    (victim / "f").write_text("x")
    tf.remove_tree(victim, tmp_path / "trash")
    assert not victim.exists() and list((tmp_path / "trash").iterdir()) == []
    tf.remove_tree(victim, tmp_path / "trash")  # already gone: fine
