"""
Response serialization for the AWS JSON 1.1 protocol: operation results and errors -> JSON bytes.

Results are walked against the compiled *output* shape:

* ``datetime`` -> epoch seconds as a JSON number with millisecond precision (``1499288695.918``), as AWS
  sends them; naive datetimes are taken as UTC, and plain numbers are accepted as epoch seconds;
* ``bytes`` -> base64 text;
* members whose value is ``None`` are omitted;
* :class:`enum.Enum` members are sent as their value, so services may return enums for enum-typed strings.

A key that the output shape does not have, or a value of the wrong Python type, is a bug in the service and
raises :class:`ResultShapeError` (a :class:`ValueError`) naming the member, rather than being sent (or
dropped) silently.

Errors become ``{"__type": "<code>", "<message member>": "<message>"}``; which casing the message member has
is decided by :class:`hsmsim.aws.protocol.JsonProtocol`, which knows the service's error shapes.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, NoReturn

from hsmsim.aws.shapes import ShapeNode

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ResultShapeError(ValueError):
    """A service returned a result that does not fit the operation's output shape."""


class _BadResult(Exception):
    """Internal: collects path segments leaf-first while unwinding, like the parser's ``_BadValue``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.path: list[str] = []


def _wrong_type(node: ShapeNode, value: object) -> NoReturn:
    raise _BadResult(f"expected a value for {node.type} shape {node.name}, got {type(value).__name__}")


def _serialize_structure(node: ShapeNode, value: Any) -> Any:
    if not isinstance(value, Mapping):
        _wrong_type(node, value)
    if node.is_document:
        return value
    by_name = node.members_by_name
    out: dict[str, Any] = {}
    for name, item in value.items():
        member = by_name.get(name)
        if member is None:
            raise _BadResult(f"shape {node.name} has no member {name!r}")
        if item is None:
            continue
        shape = member.shape
        try:
            out[member.json_name] = _SERIALIZERS[shape.type](shape, item)
        except _BadResult as exc:
            exc.path.append(name)
            raise
    return out


def _serialize_list(node: ShapeNode, value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        _wrong_type(node, value)
    shape = node.member
    assert shape is not None
    serialize = _SERIALIZERS[shape.type]
    out: list[Any] = []
    for index, item in enumerate(value):
        try:
            out.append(serialize(shape, item))
        except _BadResult as exc:
            exc.path.append(str(index))
            raise
    return out


def _serialize_map(node: ShapeNode, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        _wrong_type(node, value)
    shape = node.value
    assert shape is not None
    serialize = _SERIALIZERS[shape.type]
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, Enum):
            key = key.value
        if not isinstance(key, str):
            raise _BadResult(f"map {node.name} has a non-string key {key!r}")
        try:
            out[key] = serialize(shape, item)
        except _BadResult as exc:
            exc.path.append(key)
            raise
    return out


def _serialize_string(node: ShapeNode, value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        _wrong_type(node, value)
    return value


def _serialize_blob(node: ShapeNode, value: Any) -> str:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        _wrong_type(node, value)
    return base64.b64encode(value).decode("ascii")


def _serialize_timestamp(node: ShapeNode, value: Any) -> int | float:
    if isinstance(value, datetime):
        moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        delta = moment - _EPOCH
        millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return millis // 1000 if millis % 1000 == 0 else millis / 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds: int | float = value
        return seconds
    _wrong_type(node, value)


def _serialize_integer(node: ShapeNode, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _wrong_type(node, value)
    return int(value)


def _serialize_float(node: ShapeNode, value: Any) -> float | int:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        _wrong_type(node, value)
    return value


def _serialize_boolean(node: ShapeNode, value: Any) -> bool:
    if not isinstance(value, bool):
        _wrong_type(node, value)
    return value


def _serialize_passthrough(node: ShapeNode, value: Any) -> Any:
    return value


class _ByType(dict[str, Callable[[ShapeNode, Any], Any]]):
    """Handlers by shape type; types this layer does not know (none in our models) pass through."""

    def __missing__(self, key: str) -> Callable[[ShapeNode, Any], Any]:
        return _serialize_passthrough


_SERIALIZERS = _ByType(
    {
        "structure": _serialize_structure,
        "list": _serialize_list,
        "map": _serialize_map,
        "string": _serialize_string,
        "blob": _serialize_blob,
        "timestamp": _serialize_timestamp,
        "integer": _serialize_integer,
        "long": _serialize_integer,
        "float": _serialize_float,
        "double": _serialize_float,
        "boolean": _serialize_boolean,
    }
)


def dump_json(document: Any) -> bytes:
    """Compact JSON bytes (ASCII-only, so any Unicode travels as ``\\uXXXX`` escapes)."""
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def serialize_output(node: ShapeNode | None, result: Mapping[str, Any] | None) -> bytes:
    """
    Serialize an operation *result* against its compiled output shape *node*.

    ``None`` results and operations without an output shape give ``{}``.

    :raises ResultShapeError: if *result* has a member the shape does not have, or a value of the wrong type.
    """
    if result is None or node is None:
        if result:
            raise ResultShapeError(f"operation has no output shape but returned {sorted(result)}")
        return b"{}"
    try:
        document = _serialize_structure(node, result)
    except _BadResult as exc:
        where = ".".join(reversed(exc.path)) or "<result>"
        raise ResultShapeError(f"{node.name}: {exc.detail} (at {where})") from None
    return dump_json(document)


def serialize_error_body(code: str, message_member: str, message: str | None) -> bytes:
    """The body of an error response; *message* ``None`` leaves the message member out entirely."""
    body = {"__type": code}
    if message is not None:
        body[message_member] = message
    return dump_json(body)
