"""
SoftHSM 2.6.1's file object store, read and written from Python (softhsm-facts.md §2, §6.3).

A token is a directory ``<tokendir>/<uuid>/`` holding ``token.object`` (label, serial, flags and the
SO/user PIN blobs that wrap the token master key), ``generation`` (an 8-byte big-endian counter that
SoftHSM polls to notice added objects), ``token.lock``, and one ``<uuid>.object`` + ``<uuid>.lock``
per object. The token serial is the last 16 hex digits of the directory UUID; SoftHSM derives the slot
id from it as ``int(serial[-8:], 16) & 0x7FFFFFFF`` after a (re)start, and two equal slot ids abort
``C_Initialize`` (§6.3).

An object file (ObjectFile.cpp / File.cpp) is, with every integer an 8-byte big-endian unsigned long::

    generation
    repeat until EOF:  attribute-type  kind  value
        kind 1 (bool):     1 byte (0x00 / 0xFF)
        kind 2 (ulong):    8 bytes
        kind 3 (bytes):    length, then that many bytes
        kind 4 (attrmap):  length in bytes, then that many bytes of nested (type, kind, value) entries
        kind 5 (mechset):  count, then count mechanism types

The leading generation is the object's own change counter: SoftHSM reloads an object whose on-disk
counter differs from the one it last read, and writes ``counter + 1`` on its next store. The label
(0x80005349) is stored as 32 blank-padded bytes and the serial (0x8000534A) as 16 ASCII characters,
both in clear; the PIN blobs are 0x8000534C (SO) and 0x8000534D (user).

This module only parses and re-serialises (byte-exact); private attribute values stay encrypted.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TokenFormatError

CKA_OS_TOKENLABEL = 0x80005349
CKA_OS_TOKENSERIAL = 0x8000534A
CKA_OS_TOKENFLAGS = 0x8000534B
CKA_OS_SOPIN = 0x8000534C
CKA_OS_USERPIN = 0x8000534D

KIND_BOOL, KIND_ULONG, KIND_BYTES, KIND_ATTRMAP, KIND_MECHSET = 1, 2, 3, 4, 5

TOKEN_OBJECT = "token.object"
TOKEN_LOCK = "token.lock"
GENERATION = "generation"
OBJECT_SUFFIX = ".object"
LOCK_SUFFIX = ".lock"
TMP_SUFFIX = ".hsmsim-tmp"

LABEL_LEN = 32
SERIAL_LEN = 16
# Serial-derived slot ids below this are refused: after a restart SoftHSM gives the free slot the id
# "number of tokens", and in-process created tokens use small index ids (softhsm-facts.md §3, §6.3).
MIN_SLOT_ID = 1 << 20

_U64 = struct.Struct(">Q")
log = logging.getLogger(__name__)


@dataclass
class ObjectFile:
    """One parsed object file; ``records`` keeps each value's raw encoding for a byte-exact rewrite."""

    generation: int
    records: list[tuple[int, int, bytes]] = field(default_factory=list)

    def get_bytes(self, attr_type: int) -> bytes | None:
        for a_type, kind, raw in self.records:
            if a_type == attr_type and kind == KIND_BYTES:
                return raw[8:]
        return None

    def set_bytes(self, attr_type: int, value: bytes) -> None:
        """Replace a byte-string attribute (appending it if absent)."""
        raw = _U64.pack(len(value)) + value
        for i, (a_type, kind, _) in enumerate(self.records):
            if a_type == attr_type:
                self.records[i] = (a_type, KIND_BYTES, raw)
                return
        self.records.append((attr_type, KIND_BYTES, raw))

    def body(self) -> bytes:
        """The attribute records without the leading generation counter."""
        return b"".join(_U64.pack(t) + _U64.pack(k) + raw for t, k, raw in self.records)

    def encode(self) -> bytes:
        return _U64.pack(self.generation) + self.body()


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TokenFormatError(f"{self.what}: truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def ulong(self) -> int:
        return _U64.unpack(self.take(8))[0]


def _value(reader: _Reader, kind: int) -> bytes:
    """Consume one value of ``kind``; return its raw encoding."""
    start = reader.pos
    if kind == KIND_BOOL:
        reader.take(1)
    elif kind == KIND_ULONG:
        reader.take(8)
    elif kind == KIND_BYTES:
        reader.take(reader.ulong())
    elif kind == KIND_MECHSET:
        reader.take(8 * reader.ulong())
    elif kind == KIND_ATTRMAP:
        inner = _Reader(reader.take(reader.ulong()), reader.what)
        while inner.pos < len(inner.data):
            inner.ulong()
            inner_kind = inner.ulong()
            if inner_kind == KIND_ATTRMAP:
                raise TokenFormatError(f"{reader.what}: nested attribute map")
            _value(inner, inner_kind)
    else:
        raise TokenFormatError(f"{reader.what}: unknown attribute kind {kind} at byte {start - 8}")
    return reader.data[start : reader.pos]


def parse_object(data: bytes, what: str = "object file") -> ObjectFile:
    """Parse a whole object file; anything but a clean end of file raises TokenFormatError."""
    reader = _Reader(data, what)
    obj = ObjectFile(generation=reader.ulong())
    while reader.pos < len(data):
        attr_type = reader.ulong()
        kind = reader.ulong()
        obj.records.append((attr_type, kind, _value(reader, kind)))
    return obj


def read_object(path: Path) -> ObjectFile:
    return parse_object(path.read_bytes(), str(path))


def parse_token_object(data: bytes, what: str = TOKEN_OBJECT) -> ObjectFile:
    """Parse ``token.object`` and check it has what a usable, PIN-initialised token needs."""
    obj = parse_object(data, what)
    label, serial = obj.get_bytes(CKA_OS_TOKENLABEL), obj.get_bytes(CKA_OS_TOKENSERIAL)
    if label is None or len(label) != LABEL_LEN:
        raise TokenFormatError(f"{what}: missing or malformed token label")
    if serial is None or len(serial) != SERIAL_LEN:
        raise TokenFormatError(f"{what}: missing or malformed token serial")
    for attr, name in ((CKA_OS_SOPIN, "SO PIN blob"), (CKA_OS_USERPIN, "user PIN blob")):
        if not obj.get_bytes(attr):
            raise TokenFormatError(f"{what}: no {name}")
    return obj


def token_serial(obj: ObjectFile) -> str:
    serial = obj.get_bytes(CKA_OS_TOKENSERIAL) or b""
    return serial.decode("ascii", "replace").strip()


def encode_label(label: str) -> bytes:
    """The 32-byte blank-padded UTF-8 label SoftHSM stores (and C_InitToken takes)."""
    raw = label.encode("utf-8")
    if not raw or len(raw) > LABEL_LEN:
        raise ValueError("a token label must be 1 to 32 bytes of UTF-8")
    return raw.ljust(LABEL_LEN, b" ")


# --- serials and slot ids ---------------------------------------------------------------------


def slot_id_of(serial: str) -> int:
    """The slot id SoftHSM 2.6.1 derives from a serial at C_Initialize (softhsm-facts.md §6.3)."""
    return int(serial[-8:], 16) & 0x7FFFFFFF


def serial_of_dirname(name: str) -> str:
    """Convention: the serial is the last 16 hex digits of the token directory's UUID."""
    return name.replace("-", "")[-SERIAL_LEN:]


def acceptable_serial(serial: str, taken_slot_ids: set[int]) -> bool:
    return slot_id_of(serial) >= MIN_SLOT_ID and slot_id_of(serial) not in taken_slot_ids


def new_token_dirname(taken_slot_ids: set[int]) -> tuple[str, str]:
    """A fresh random token UUID whose serial satisfies the slot-id rule; returns (dirname, serial)."""
    while True:
        name = str(uuid.uuid4())
        serial = serial_of_dirname(name)
        if acceptable_serial(serial, taken_slot_ids):
            return name, serial


# --- token directories ------------------------------------------------------------------------


def read_generation(token_path: Path) -> int:
    try:
        data = (token_path / GENERATION).read_bytes()
    except FileNotFoundError:
        return 0
    return _U64.unpack(data)[0] if len(data) == 8 else 0


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and a rename: a reader, or a later start after a
    kill at any instant, sees the old file or the new one, never a torn one (the fsync keeps the rename from
    reaching the disk before the data does, should the machine itself stop; it costs about 1 ms per file).

    The temporary name does not end in ``.object``, so SoftHSM never indexes it; a leftover one is removed by
    the start-up repair (``repair.py``).
    """
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def bump_generation(token_path: Path) -> None:
    """Make a running SoftHSM re-index the directory (it notices new object files only this way)."""
    write_atomic(token_path / GENERATION, _U64.pack(read_generation(token_path) + 1))


def touch(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def object_names(token_path: Path) -> list[str]:
    """Names of the object files of a token (``token.object`` excluded)."""
    return sorted(
        n for n in os.listdir(token_path) if n.endswith(OBJECT_SUFFIX) and n != TOKEN_OBJECT
    )


@dataclass
class TokenImage:
    """An in-memory, validated copy of a token directory's contents."""

    token_object: ObjectFile
    objects: dict[str, bytes]  # object file name -> raw bytes
    generation: int

    @property
    def serial(self) -> str:
        return token_serial(self.token_object)


def load_image(token_path: Path) -> TokenImage:
    """Read and validate every file of a token directory (or snapshot). Raises TokenFormatError."""
    try:
        token_obj = parse_token_object((token_path / TOKEN_OBJECT).read_bytes(), str(token_path))
        objects = {}
        for name in object_names(token_path):
            raw = (token_path / name).read_bytes()
            parse_object(raw, f"{token_path}/{name}")
            objects[name] = raw
    except OSError as exc:
        raise TokenFormatError(f"{token_path}: unreadable token directory ({exc})") from exc
    return TokenImage(token_obj, objects, read_generation(token_path))


def write_image(image: TokenImage, dest: Path) -> None:
    """Write a token directory (``dest`` must not exist) the way SoftHSM lays it out, every file synced.

    Callers write it under a name SoftHSM does not scan (a staging directory beside the token directory, or a
    temporary sibling) and rename it into place, so a token or snapshot appears whole or not at all.
    """
    dest.mkdir(mode=0o700)
    _write_synced(dest / TOKEN_OBJECT, image.token_object.encode())
    touch(dest / TOKEN_LOCK)
    _write_synced(dest / GENERATION, _U64.pack(max(image.generation, 1)))
    for name, raw in image.objects.items():
        _write_synced(dest / name, raw)
        touch(dest / (name[: -len(OBJECT_SUFFIX)] + LOCK_SUFFIX))
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)  # the directory entries, before the caller's rename publishes the directory
    finally:
        os.close(fd)


def remove_tree(path: Path, trash_dir: Path) -> None:
    """Remove a directory: first rename it out of the way (atomic), then delete it."""
    if not path.exists():
        return
    trash_dir.mkdir(parents=True, exist_ok=True)
    target = trash_dir / f"{path.name}.{uuid.uuid4().hex[:8]}.deleted"
    os.replace(path, target)
    shutil.rmtree(target, ignore_errors=True)


def scan_token_dirs(token_dir: Path) -> dict[str, Path]:
    """serial -> directory of every token on disk, read from each ``token.object``."""
    return dict(list_token_dirs(token_dir))


def list_token_dirs(token_dir: Path) -> list[tuple[str, Path]]:
    """(serial, directory) of every token on disk, duplicates included.

    Directories without a readable, parsable ``token.object`` are skipped with a warning (SoftHSM
    cannot open them as tokens either).
    """
    result: list[tuple[str, Path]] = []
    for entry in sorted(token_dir.iterdir()):
        if not entry.is_dir() or not (entry / TOKEN_OBJECT).exists():
            continue
        try:
            obj = parse_object((entry / TOKEN_OBJECT).read_bytes(), str(entry / TOKEN_OBJECT))
        except (OSError, TokenFormatError) as exc:
            log.warning("skipping unreadable token directory %s: %s", entry, exc)
            continue
        result.append((token_serial(obj), entry))
    return result
