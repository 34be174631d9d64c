"""
Compiled shapes: botocore shapes flattened once into plain, slotted nodes.

botocore's :class:`~botocore.model.Shape` objects resolve member references lazily and keep constraints in
dictionaries; walking them on every request would redo that work. :func:`ShapeCompiler.compile` turns a
shape into a :class:`ShapeNode` tree holding exactly what the parser, validator and serializer need:

* the type (``structure``, ``list``, ``map``, ``string``, ``blob``, ...);
* for structures, the members in model order with their JSON key, their lowerCamelCase name for
  validation messages (``KeySpec`` -> ``keySpec``) and whether they are required;
* the constraints (``min``, ``max``, ``enum``, compiled ``pattern``) and the ``sensitive`` flag;
* ``has_checks``: whether anything in the subtree can fail validation, so the validator can skip
  subtrees (most output-like or free-form members) without visiting them.

One :class:`ShapeCompiler` exists per service model; it memoizes nodes by shape name (plus any member-level
trait overrides), so a shape shared by many operations is compiled once, and recursive shapes terminate.

AWS lists enum values in validation messages in its own order, not the model's. A compiler may be given
``enum_orders`` (shape name -> the order AWS was recorded using); :func:`ordered_enum` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import regex
from botocore.model import ServiceModel, Shape

from hsmsim.aws.patterns import compile_pattern

#: Shape types whose ``min``/``max`` constrain a length rather than a value.
LENGTH_TYPES = frozenset({"string", "blob", "list", "map"})
#: Shape types whose ``min``/``max`` constrain the value.
NUMBER_TYPES = frozenset({"integer", "long", "float", "double"})


def lower_camel(name: str) -> str:
    """Return *name* with its first letter lower-cased, as AWS spells paths (``KeySpec`` -> ``keySpec``)."""
    return name[:1].lower() + name[1:]


@dataclass(eq=False, slots=True)
class MemberNode:
    """
    :ivar name: the member name in the model, used as the key of parsed params and of results.
    :ivar json_name: the key in the JSON body (``locationName`` if the model sets one, else ``name``).
    :ivar path_name: the member name in validation/serialization messages (lowerCamelCase).
    :ivar shape: the member's compiled shape.
    :ivar required: whether the structure lists the member as required.
    """

    name: str
    json_name: str
    path_name: str
    shape: ShapeNode
    required: bool


@dataclass(eq=False, slots=True)
class ShapeNode:
    """A compiled shape; see the module docstring. Fields that do not apply to ``type`` are ``None``/empty."""

    name: str
    type: str
    sensitive: bool = False
    is_document: bool = False
    min: int | float | None = None
    max: int | float | None = None
    enum: tuple[str, ...] | None = None
    enum_set: frozenset[str] | None = None
    pattern: str | None = None
    regex: regex.Pattern[str] | None = None
    members: tuple[MemberNode, ...] = ()
    members_by_name: dict[str, MemberNode] = field(default_factory=dict)
    member: ShapeNode | None = None
    key: ShapeNode | None = None
    value: ShapeNode | None = None
    #: Whether this node itself (not its children) carries a constraint (min, max, enum or pattern).
    has_own_checks: bool = False
    #: Whether this node or anything below it can fail validation (see the module docstring).
    has_checks: bool = True


def ordered_enum(model_values: Sequence[str], recorded: Sequence[str] | None) -> tuple[str, ...]:
    """The enum values in AWS's recorded order; values the model has and the recording lacks (added later)
    follow in model order, values the model no longer has are dropped."""
    if not recorded:
        return tuple(model_values)
    known = set(model_values)
    first = [value for value in recorded if value in known]
    listed = set(first)
    return (*first, *(value for value in model_values if value not in listed))


class ShapeCompiler:
    """Compiles the shapes of one service model, memoizing nodes so shared shapes are compiled once."""

    def __init__(self, service_model: ServiceModel, enum_orders: Mapping[str, Sequence[str]] | None = None) -> None:
        self.service_model = service_model
        self.enum_orders = enum_orders or {}
        self._memo: dict[tuple[str, str], ShapeNode] = {}

    def compile(self, shape: Shape | None) -> ShapeNode | None:
        """Return the compiled node of *shape* (``None`` for ``None``, e.g. an operation without output)."""
        if shape is None:
            return None
        node = self._compile(shape)
        _compute_has_checks(node, {})
        return node

    def _compile(self, shape: Shape) -> ShapeNode:
        # Member references may override traits (botocore merges them into the shape), so the memo key
        # includes the traits that matter, not just the shape name.
        key = (shape.name, repr(sorted(shape.metadata.items())) + repr(sorted(shape.serialization.items())))
        node = self._memo.get(key)
        if node is not None:
            return node
        meta = shape.metadata
        node = ShapeNode(
            name=shape.name,
            type=shape.type_name,
            sensitive=bool(meta.get("sensitive", False)),
            is_document=bool(meta.get("document", False)),
            min=meta.get("min"),
            max=meta.get("max"),
        )
        # Register before compiling children so that recursive shapes terminate.
        self._memo[key] = node
        enum = meta.get("enum")
        if enum:
            node.enum = ordered_enum(enum, self.enum_orders.get(shape.name))
            node.enum_set = frozenset(enum)
        pattern = meta.get("pattern")
        if pattern is not None and shape.type_name == "string":
            node.pattern = pattern
            node.regex = compile_pattern(pattern)
        node.has_own_checks = (
            node.min is not None or node.max is not None or node.enum is not None or node.pattern is not None
        )
        if shape.type_name == "structure" and not node.is_document:
            required = frozenset(meta.get("required", ()))
            members = []
            for name, member_shape in shape.members.items():
                members.append(
                    MemberNode(
                        name=name,
                        json_name=member_shape.serialization.get("name", name),
                        path_name=lower_camel(name),
                        shape=self._compile(member_shape),
                        required=name in required,
                    )
                )
            node.members = tuple(members)
            node.members_by_name = {member.name: member for member in members}
        elif shape.type_name == "list":
            node.member = self._compile(shape.member)
        elif shape.type_name == "map":
            node.key = self._compile(shape.key)
            node.value = self._compile(shape.value)
        return node


def _compute_has_checks(node: ShapeNode, state: dict[int, bool]) -> bool:
    """
    Set ``has_checks`` on *node* and its subtree: true if any node below (or the node itself) has a
    constraint or a required member. Nodes on a cycle are conservatively marked true.
    """
    known = state.get(id(node))
    if known is not None:
        return known
    state[id(node)] = True  # provisional value for cycles
    result = node.has_own_checks
    for member in node.members:
        result = _compute_has_checks(member.shape, state) or member.required or result
    for child in (node.member, node.key, node.value):
        if child is not None:
            result = _compute_has_checks(child, state) or result
    # List elements and map values may be JSON null, which the validator reports as "must not be null".
    if node.type in ("list", "map"):
        result = True
    node.has_checks = result
    state[id(node)] = result
    return result
