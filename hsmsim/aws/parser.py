"""
Request parsing for the AWS JSON 1.1 protocol: JSON body -> Python params, by walking the input shape.

The walk converts wire values into the types services work with and rejects values of the wrong JSON type:

============  ==========================================  ==============================================
shape type    accepted JSON                               Python value
============  ==========================================  ==============================================
structure     object (unknown members are ignored)        ``dict`` keyed by model member names
list          array                                       ``list``
map           object                                      ``dict``
string        string                                      ``str``
blob          base64 string (padding required)            ``bytes``
timestamp     number (epoch seconds) or ISO-8601 string   aware ``datetime`` in UTC
integer/long  integer (not ``true``/``false``), in range  ``int``
float/double  number                                      ``float``
boolean       ``true``/``false``                          ``bool``
============  ==========================================  ==============================================

JSON ``null`` members are treated as absent, as AWS does; ``null`` list elements and map values are kept as
``None`` so that the validator reports them (``Member must not be null``). Any mismatch raises
:class:`~hsmsim.aws.errors.SerializationException` naming the member by its path in the same notation as
validation messages (``tags.1.member.tagKey``). The message text borrows the wording of AWS's JSON reader
(``STRING_VALUE can not be converted to an Integer``) and appends `` at '<path>'``.

Constraint checks (length, range, enum, pattern, required) are not done here but in
:mod:`hsmsim.aws.validate`, after the whole body has been read, because AWS reports a malformed body before
any constraint violation.

For speed, the happy path builds no paths: a mismatch raises an internal exception that collects the path
segments while it unwinds.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

from hsmsim.aws.errors import SerializationException
from hsmsim.aws.shapes import ShapeNode

_TARGET_NAMES = {
    "structure": "a Structure",
    "list": "a List",
    "map": "a Map",
    "string": "a String",
    "blob": "a Blob",
    "timestamp": "a Timestamp",
    "integer": "an Integer",
    "long": "a Long",
    "float": "a Float",
    "double": "a Double",
    "boolean": "a Boolean",
}
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1, "int"), "long": (-(2**63), 2**63 - 1, "long")}


class _BadValue(Exception):
    """Internal: a value does not fit its shape; ``path`` collects segments leaf-first while unwinding."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.path: list[str] = []


def _mismatch(node: ShapeNode, value: object) -> NoReturn:
    if isinstance(value, dict):
        detail = "Start of structure or map found where not expected"
    elif isinstance(value, list):
        detail = "Start of list found where not expected"
    else:
        if isinstance(value, bool):
            token = "BOOLEAN_VALUE"
        elif isinstance(value, (int, float)):
            token = "NUMBER_VALUE"
        else:
            token = "STRING_VALUE"
        detail = f"{token} can not be converted to {_TARGET_NAMES.get(node.type, 'a ' + node.type)}"
    raise _BadValue(detail)


def _parse_structure(node: ShapeNode, value: Any) -> Any:
    if type(value) is not dict:
        _mismatch(node, value)
    if node.is_document:
        return value
    out: dict[str, Any] = {}
    for member in node.members:
        raw = value.get(member.json_name)
        if raw is None:
            continue
        shape = member.shape
        try:
            out[member.name] = _PARSERS[shape.type](shape, raw)
        except _BadValue as exc:
            exc.path.append(member.path_name)
            raise
    return out


def _parse_list(node: ShapeNode, value: Any) -> list[Any]:
    if type(value) is not list:
        _mismatch(node, value)
    shape = node.member
    assert shape is not None
    parse = _PARSERS[shape.type]
    out: list[Any] = []
    for index, item in enumerate(value, 1):
        if item is None:
            out.append(None)
            continue
        try:
            out.append(parse(shape, item))
        except _BadValue as exc:
            exc.path.append(f"{index}.member")
            raise
    return out


def _parse_map(node: ShapeNode, value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        _mismatch(node, value)
    shape = node.value
    assert shape is not None
    parse = _PARSERS[shape.type]
    out: dict[str, Any] = {}
    for key, item in value.items():
        try:
            _check_text(key)
        except _BadValue as exc:
            exc.path.append(key.encode("utf-8", "backslashreplace").decode("ascii"))
            raise
        if item is None:
            out[key] = None
            continue
        try:
            out[key] = parse(shape, item)
        except _BadValue as exc:
            exc.path.append(f"{key}.member")
            raise
    return out


def _check_text(value: str) -> str:
    """A JSON ``\\ud800`` escape decodes to a lone surrogate, which no UTF-8 text can hold (AWS's services are
    UTF-8 through and through): refused here, before it reaches a database, a token label or a response."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _BadValue(f"Invalid UTF-8: lone surrogate U+{ord(value[exc.start]):04X} in a string") from None
    return value


def _parse_string(node: ShapeNode, value: Any) -> str:
    if type(value) is not str:
        _mismatch(node, value)
    return _check_text(value)


def _parse_blob(node: ShapeNode, value: Any) -> bytes:
    if type(value) is not str:
        _mismatch(node, value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _BadValue("Invalid base64 value") from exc


def _parse_timestamp(node: ShapeNode, value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        _mismatch(node, value)
    try:
        if isinstance(value, str):
            try:
                seconds: float | None = float(value)
            except ValueError:
                seconds = None
            if seconds is None:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed.astimezone(UTC)
            value = seconds
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise _BadValue(f"Invalid timestamp value '{value}'") from exc


def _parse_integer(node: ShapeNode, value: Any) -> int:
    if type(value) is not int:
        _mismatch(node, value)
    low, high, java_name = _INT_RANGES.get(node.type, _INT_RANGES["long"])
    if not low <= value <= high:
        raise _BadValue(f"Numeric value ({value}) out of range of {java_name}")
    return value


def _parse_float(node: ShapeNode, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _mismatch(node, value)
    try:
        result = float(value)
    except OverflowError as exc:
        raise _BadValue(f"Numeric value ({value}) out of range of double") from exc
    if not math.isfinite(result):
        raise _BadValue(f"Numeric value ({value}) out of range of double")
    return result


def _parse_boolean(node: ShapeNode, value: Any) -> bool:
    if type(value) is not bool:
        _mismatch(node, value)
    return value


def _parse_passthrough(node: ShapeNode, value: Any) -> Any:
    return value


class _ByType(dict[str, Callable[[ShapeNode, Any], Any]]):
    """Handlers by shape type; types this layer does not know (none in our models) pass through."""

    def __missing__(self, key: str) -> Callable[[ShapeNode, Any], Any]:
        return _parse_passthrough


_PARSERS = _ByType(
    {
        "structure": _parse_structure,
        "list": _parse_list,
        "map": _parse_map,
        "string": _parse_string,
        "blob": _parse_blob,
        "timestamp": _parse_timestamp,
        "integer": _parse_integer,
        "long": _parse_integer,
        "float": _parse_float,
        "double": _parse_float,
        "boolean": _parse_boolean,
    }
)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def decode_body(body: bytes) -> dict[str, Any]:
    """
    Decode a request body into a JSON object; an empty (or all-whitespace) body is ``{}``.

    :raises SerializationException: if the body is not valid JSON (``NaN``/``Infinity`` included) or is
        not a JSON object.
    """
    if not body or not body.strip():
        return {}
    try:
        # AWS reads request bodies as UTF-8 only; json.loads(bytes) would also guess UTF-16/32.
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SerializationException(f"Malformed JSON request body: {exc}") from exc
    if type(document) is not dict:
        raise SerializationException(f"Request body must be a JSON object, got {_json_kind(document)}")
    return document


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array"


def parse_input(node: ShapeNode | None, document: dict[str, Any]) -> dict[str, Any]:
    """
    Convert a decoded request *document* into params by walking the compiled input shape *node*.

    :param node: the compiled input shape (``None`` for an operation without input: params are ``{}``).
    :raises SerializationException: if a value does not fit its shape; the message names the member.
    """
    if node is None:
        return {}
    try:
        params: dict[str, Any] = _parse_structure(node, document)
    except _BadValue as exc:
        path = ".".join(reversed(exc.path))
        raise SerializationException(f"{exc.detail} at '{path}'") from None
    return params
