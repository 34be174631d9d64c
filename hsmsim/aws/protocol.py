"""
The AWS JSON 1.1 protocol, driven entirely by botocore service models.

:class:`JsonProtocol` is the one object the HTTP layer talks to. It knows no service: it is built from
service models and routes by their ``targetPrefix`` (``X-Amz-Target: TrentService.Encrypt`` -> the ``kms``
model, operation ``Encrypt``). A request goes::

    target + body --parse()--> ParsedRequest(service_model, operation_model, params)
        (decode JSON -> walk the input shape, see parser.py -> check constraints, see validate.py)
    result dict --serialize_result()--> JSON bytes                    (see serializer.py)
    ServiceError --serialize_error()--> (status, headers, JSON bytes)

Per service, the protocol keeps an operation table, a shape compiler (see shapes.py) whose compiled input
and output shapes are cached per operation on first use, and the casing of the message member of each
modeled error (``Message`` in CloudHSM v2's shapes, ``message`` in KMS's).

The ``cloudhsmv2`` model lists ``smithy-rpc-v2-cbor`` first and ``json`` second; botocore picks ``json`` for
it (its ``resolved_protocol``), so boto3 speaks JSON 1.1 to both services and models are accepted if
``json`` is among their protocols.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, ServiceModel

from hsmsim.aws.errors import ServiceError, UnknownOperationException
from hsmsim.aws.parser import decode_body, parse_input
from hsmsim.aws.serializer import serialize_error_body, serialize_output
from hsmsim.aws.shapes import ShapeCompiler, ShapeNode
from hsmsim.aws.validate import validate_input

#: The ``Content-Type`` of every JSON 1.1 request and response.
CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class ParsedRequest:
    """
    :ivar service_model: the service the target prefix selected.
    :ivar operation_model: the operation the target named.
    :ivar params: the validated input, keyed by model member names; blobs are ``bytes`` and timestamps
        aware UTC ``datetime`` objects.
    """

    service_model: ServiceModel
    operation_model: OperationModel
    params: dict[str, Any]


@dataclass(eq=False)
class _Service:
    """Everything the protocol precomputes (or caches) for one service model."""

    model: ServiceModel
    compiler: ShapeCompiler
    operations: dict[str, OperationModel]
    message_members: dict[str, str]
    inputs: dict[str, ShapeNode | None] = field(default_factory=dict)
    outputs: dict[str, ShapeNode | None] = field(default_factory=dict)

    @classmethod
    def build(cls, model: ServiceModel, enum_orders: Mapping[str, Sequence[str]] | None = None) -> _Service:
        operations = {name: model.operation_model(name) for name in model.operation_names}
        message_members: dict[str, str] = {}
        for shape in model.error_shapes:
            member = next((name for name in shape.members if name.lower() == "message"), None)
            if member is not None:
                message_members[shape.name] = member
                code = shape.metadata.get("error", {}).get("code")
                if code:
                    message_members[code] = member
        return cls(model, ShapeCompiler(model, enum_orders), operations, message_members)

    def input_node(self, operation: OperationModel) -> ShapeNode | None:
        try:
            return self.inputs[operation.name]
        except KeyError:
            node = self.inputs[operation.name] = self.compiler.compile(operation.input_shape)
            return node

    def output_node(self, operation: OperationModel) -> ShapeNode | None:
        try:
            return self.outputs[operation.name]
        except KeyError:
            node = self.outputs[operation.name] = self.compiler.compile(operation.output_shape)
            return node


def _speaks_json(model: ServiceModel) -> bool:
    protocols = model.metadata.get("protocols") or [model.metadata.get("protocol")]
    return "json" in protocols


class JsonProtocol:
    """
    Parse requests and serialize results and errors for a set of AWS JSON 1.1 services.

    :param service_models: the services to serve; each needs a distinct ``targetPrefix`` and must list
        ``json`` among its protocols.
    :param enum_orders: per service name, shape name -> the order AWS lists that enum's values in validation
        messages (see :func:`hsmsim.aws.shapes.ordered_enum`); model order otherwise.
    :raises ValueError: if a model has no target prefix, does not speak JSON, or reuses a prefix.
    """

    def __init__(
        self,
        service_models: Iterable[ServiceModel],
        enum_orders: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        self._by_prefix: dict[str, _Service] = {}
        self._by_name: dict[str, _Service] = {}
        # Keyed by id(); the _Service holds the model, so the id cannot be reused while the entry exists.
        self._foreign: dict[int, _Service] = {}
        for model in service_models:
            prefix = model.metadata.get("targetPrefix")
            if not prefix:
                raise ValueError(f"service model {model.service_name!r} has no targetPrefix")
            if not _speaks_json(model):
                raise ValueError(f"service model {model.service_name!r} does not support the json protocol")
            if prefix in self._by_prefix:
                raise ValueError(f"target prefix {prefix!r} is used by two service models")
            service = _Service.build(model, (enum_orders or {}).get(model.service_name))
            self._by_prefix[prefix] = service
            self._by_name[model.service_name] = service

    # -- routing -------------------------------------------------------------------------------------------

    def _resolve_service(self, target: str | None) -> tuple[_Service, str]:
        if not target:
            raise UnknownOperationException("Missing X-Amz-Target header")
        prefix, dot, operation = target.rpartition(".")
        if not dot or not prefix or not operation:
            raise UnknownOperationException(f"Malformed X-Amz-Target header: '{target}'")
        service = self._by_prefix.get(prefix)
        if service is None:
            raise UnknownOperationException(f"Unknown service target prefix: '{prefix}'")
        return service, operation

    def service_for_target(self, target: str | None) -> ServiceModel:
        """
        Return the service model an ``X-Amz-Target`` value routes to (the operation is not checked).

        :raises UnknownOperationException: if the header is missing or malformed or the prefix is unknown.
        """
        return self._resolve_service(target)[0].model

    def _resolve_operation(self, target: str | None) -> tuple[_Service, OperationModel]:
        service, name = self._resolve_service(target)
        operation = service.operations.get(name)
        if operation is None:
            raise UnknownOperationException(f"Unknown operation: '{target}'")
        return service, operation

    def operation_for_target(self, target: str | None) -> OperationModel:
        """
        Return the operation model an ``X-Amz-Target`` value names.

        :raises UnknownOperationException: if the header is missing or malformed, or names no known service
            or operation.
        """
        return self._resolve_operation(target)[1]

    def _service_of(self, model: ServiceModel) -> _Service:
        service = self._by_name.get(model.service_name)
        if service is not None and service.model is model:
            return service
        # A model this protocol was not built with (e.g. a test's copy): serialize for it, never route to it.
        service = self._foreign.get(id(model))
        if service is None:
            service = self._foreign[id(model)] = _Service.build(model)
        return service

    # -- requests ------------------------------------------------------------------------------------------

    def parse(self, target: str | None, body: bytes) -> ParsedRequest:
        """
        Route, decode, convert and validate one request.

        :param target: the ``X-Amz-Target`` header (``None`` if absent).
        :param body: the raw request body; empty means ``{}``.
        :raises UnknownOperationException: for a missing, malformed or unknown target.
        :raises SerializationException: for a body that is not a JSON object or does not fit the input shape.
        :raises ValidationException: listing every constraint violation.
        """
        service, operation = self._resolve_operation(target)
        document = decode_body(body)
        node = service.input_node(operation)
        params = parse_input(node, document)
        validate_input(node, params)
        return ParsedRequest(service.model, operation, params)

    # -- responses -----------------------------------------------------------------------------------------

    def serialize_result(self, operation_model: OperationModel, result: Mapping[str, Any] | None) -> bytes:
        """
        Serialize an operation's result against its output shape into compact JSON bytes.

        :raises hsmsim.aws.serializer.ResultShapeError: if *result* does not fit the output shape.
        """
        service = self._service_of(operation_model.service_model)
        return serialize_output(service.output_node(operation_model), result)

    def serialize_error(
        self, service_model: ServiceModel | None, error: ServiceError
    ) -> tuple[int, dict[str, str], bytes]:
        """
        Return ``(status, headers, body)`` for *error*.

        The message member is spelled as in the service's shape for that error code (``Message`` for
        CloudHSM v2, ``message`` for KMS), and ``message`` for errors the service does not model or when no
        service is known (e.g. an unknown target). With ``error.include_message`` false the body has no
        message member.
        """
        member = "message"
        if service_model is not None:
            member = self._service_of(service_model).message_members.get(error.code, "message")
        message = (error.message or "") if error.include_message else None
        headers = {"Content-Type": CONTENT_TYPE, "X-Amzn-ErrorType": error.code}
        return error.status, headers, serialize_error_body(error.code, member, message)
