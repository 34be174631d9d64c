"""
Server-side validation of parsed params against every constraint of the model, in AWS's wording.

boto3 validates only required members, types and ``min`` before sending; AWS checks the rest (``max``,
``pattern``, ``enum``, and ``min`` for callers that skip client validation). The simulator checks all of
them, collects every violation and raises one :class:`~hsmsim.aws.errors.ValidationException`::

    1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: Member must
    satisfy enum value set: [RSA_2048, ...]

    2 validation errors detected: Value null at 'clusterId' failed to satisfy constraint: Member must not be
    null; Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal
    to 1

Rules, as AWS words them (each preceded by ``Member must``): ``not be null``, ``have length greater than or
equal to N`` / ``less than or equal to N`` (strings in characters, blobs in bytes, lists and maps in
entries), ``have value greater than or equal to N`` / ``less than or equal to N``, ``satisfy enum value set:
[A, B]`` (values in model order, or in AWS's recorded order where the service's compiler has one, see
:func:`hsmsim.aws.shapes.ordered_enum`), ``satisfy regular expression pattern: <pattern as in the model>``
(whole-string match, see :mod:`hsmsim.aws.patterns`).

Paths use lowerCamelCase member names joined by ``.``; a list element is ``<list>.<1-based index>.member``
(``tags.1.member.tagKey``, ``subnetIds.2.member``). For maps (no model uses this on input today, so the
notation is our choice): a violation of the *key* shape is reported at the map's path with the key as the
value, and a value is addressed as ``<map>.<key>.member``.

Values are rendered like AWS's Java validator prints them: strings verbatim, numbers in decimal, booleans
lower-case, lists ``[a, b]``, maps and structures ``{k=v, k2=v2}``, blobs as
``java.nio.HeapByteBuffer[pos=0 lim=N cap=N]``. For ``sensitive`` shapes, and anything nested in one, the
value is left out: ``Value at 'plaintext' failed to satisfy constraint: ...``. A missing required member is
``Value null at '<path>'`` even when it is sensitive (there is nothing to hide). Within one value the checks
run in the order length, range, enum, pattern; members are visited in model order, depth first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hsmsim.aws.errors import ValidationException
from hsmsim.aws.shapes import LENGTH_TYPES, NUMBER_TYPES, ShapeNode


def render_value(value: Any) -> str:
    """Render *value* the way AWS's validation messages print it (see the module docstring)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        size = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}={render_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(item) for item in value) + "]"
    return str(value)


def _violation(value: Any, path: str, sensitive: bool, rule: str) -> str:
    if sensitive:
        return f"Value at '{path}' failed to satisfy constraint: Member must {rule}"
    return f"Value '{render_value(value)}' at '{path}' failed to satisfy constraint: Member must {rule}"


def _null(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def _check_own(node: ShapeNode, value: Any, path: str, sensitive: bool, out: list[str]) -> None:
    """Check the constraints carried by *node* itself (not its children)."""
    kind = node.type
    if kind in LENGTH_TYPES:
        size = len(value)
        if node.min is not None and size < node.min:
            out.append(_violation(value, path, sensitive, f"have length greater than or equal to {node.min}"))
        if node.max is not None and size > node.max:
            out.append(_violation(value, path, sensitive, f"have length less than or equal to {node.max}"))
    elif kind in NUMBER_TYPES:
        if node.min is not None and value < node.min:
            out.append(_violation(value, path, sensitive, f"have value greater than or equal to {node.min}"))
        if node.max is not None and value > node.max:
            out.append(_violation(value, path, sensitive, f"have value less than or equal to {node.max}"))
    if node.enum_set is not None and value not in node.enum_set:
        rule = f"satisfy enum value set: [{', '.join(node.enum or ())}]"
        out.append(_violation(value, path, sensitive, rule))
    if node.regex is not None and node.regex.fullmatch(value) is None:
        rule = f"satisfy regular expression pattern: {node.pattern}"
        out.append(_violation(value, path, sensitive, rule))


def _check(node: ShapeNode, value: Any, path: str, sensitive: bool, out: list[str]) -> None:
    if node.has_own_checks:
        _check_own(node, value, path, sensitive, out)
    kind = node.type
    if kind == "structure":
        if node.members:
            _check_structure(node, value, path, sensitive, out)
    elif kind == "list":
        member = node.member
        assert member is not None
        member_sensitive = sensitive or member.sensitive
        for index, item in enumerate(value, 1):
            if item is None:
                out.append(_null(f"{path}.{index}.member"))
            elif member.has_checks:
                _check(member, item, f"{path}.{index}.member", member_sensitive, out)
    elif kind == "map":
        key_node, value_node = node.key, node.value
        assert key_node is not None and value_node is not None
        key_sensitive = sensitive or key_node.sensitive
        value_sensitive = sensitive or value_node.sensitive
        for key, item in value.items():
            if key_node.has_own_checks:
                _check_own(key_node, key, path, key_sensitive, out)
            if item is None:
                out.append(_null(f"{path}.{key}.member"))
            elif value_node.has_checks:
                _check(value_node, item, f"{path}.{key}.member", value_sensitive, out)


def _check_structure(
    node: ShapeNode, value: Mapping[str, Any], prefix: str, sensitive: bool, out: list[str]
) -> None:
    for member in node.members:
        item = value.get(member.name)
        if item is None:
            if member.required:
                out.append(_null(f"{prefix}.{member.path_name}" if prefix else member.path_name))
            continue
        shape = member.shape
        if shape.has_checks:
            path = f"{prefix}.{member.path_name}" if prefix else member.path_name
            _check(shape, item, path, sensitive or shape.sensitive, out)


def collect_violations(node: ShapeNode | None, params: Mapping[str, Any]) -> list[str]:
    """
    Return every constraint violation of *params* against the compiled input shape *node*, in order.

    Each item is one ``Value ... failed to satisfy constraint: Member must ...`` clause.
    """
    out: list[str] = []
    if node is not None and node.has_checks:
        _check_structure(node, params, "", node.sensitive, out)
    return out


def format_violations(violations: list[str]) -> str:
    """Join violation clauses into AWS's ``N validation error(s) detected: ...; ...`` message."""
    count = len(violations)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(violations)


def validate_input(node: ShapeNode | None, params: Mapping[str, Any]) -> None:
    """
    Check *params* against every constraint of the input shape.

    :raises ValidationException: listing all violations, if there is any.
    """
    violations = collect_violations(node, params)
    if violations:
        raise ValidationException(format_violations(violations))
