"""
Round trips between hsmsim's JSON 1.1 layer and botocore's own serializer and parsers (LocalStack style).

For every operation of the ``cloudhsmv2`` and ``kms`` models:

* requests: a valid input is generated from the input shape (honouring min/max/enum/pattern), serialized by
  ``botocore.serialize.create_serializer("json")`` exactly as boto3 would send it, and fed to
  :meth:`JsonProtocol.parse`; the params must equal the input (blobs as bytes, timestamps as datetimes);
* responses: a valid output is generated from the output shape, serialized by
  :meth:`JsonProtocol.serialize_result` and read back by ``botocore.parsers.create_parser("json")``.

Errors are checked the same way, and a last group drives real boto3 clients through the layer (a
``before-send`` hook answers in-process, no server) to see signing scope, dispatch and modeled exceptions
end to end.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from hsmsim.aws.context import RequestContext
from hsmsim.aws.dispatch import invoke
from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.aws.patterns import compile_pattern
from hsmsim.aws.protocol import JsonProtocol
from hsmsim.aws.sigv4 import caller_scope
from hsmsim.aws.spec import load_service_model

SERVICES = ("cloudhsmv2", "kms")

#: Example values for the patterns of both models; the generator uses the first that fits the length bounds.
PATTERN_EXAMPLES: dict[str, list[str]] = {
    # cloudhsmv2
    "^(arn:aws(-(us-gov))?:cloudhsm:([a-z]{2}(-(gov|isob|iso))?-(east|west|north|south|central){1,2}-[0-9]{1}):"
    "[0-9]{12}:backup/)?backup-[2-7a-zA-Z]{11,16}": [
        "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefgh2345",
        "backup-abcdefgh2345",
    ],
    "backup-[2-7a-zA-Z]{11,16}": ["backup-abcdefgh2345"],
    "[0-9]+": ["90"],
    "[a-zA-Z0-9+-/=\\s]*": ["-----BEGIN CERTIFICATE-----\nMIIBaw==\n-----END CERTIFICATE-----\n"],
    "arn:aws(-(us-gov))?:cloudhsm:([a-z]{2}(-(gov|isob|iso))?-(east|west|north|south|central){1,2}-[0-9]{1}):"
    "[0-9]{12}:(backup/backup|cluster/cluster|hsm/hsm)-[2-7a-zA-Z]{11,16}": [
        "arn:aws:cloudhsm:us-east-1:111122223333:cluster/cluster-abcdefgh2345"
    ],
    "cluster-[2-7a-zA-Z]{11,16}": ["cluster-abcdefgh2345"],
    "eni-[0-9a-fA-F]{8,17}": ["eni-0123abcd"],
    "[a-z]{2}(-(gov))?-(east|west|north|south|central){1,2}-\\d[a-z]": ["us-east-1a", "us-east-1b"],
    "[a-zA-Z0-9_-]+": ["states", "clusterIds"],
    "hsm-[2-7a-zA-Z]{11,16}": ["hsm-abcdefgh2345"],
    "((p|)hsm[0-9][a-z.]*\\.[a-zA-Z]+)": ["hsm1.medium", "hsm2m.medium"],
    "\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}": ["10.0.0.12"],
    ".*": ["opaque-token-1"],
    "[a-z]{2}(-(gov))?-(east|west|north|south|central){1,2}-\\d": ["us-west-2"],
    "(?:cluster|backup)-[2-7a-zA-Z]{11,16}": ["cluster-abcdefgh2345"],
    "sg-[0-9a-fA-F]{8,17}": ["sg-0123abcd"],
    "subnet-[0-9a-fA-F]{8,17}": ["subnet-0123abcd", "subnet-4567cdef"],
    "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$": ["Name", "Ünïcode tag 名前"],
    "vpc-[0-9a-fA-F]": ["vpc-0"],
    # kms
    "[0-9]{12}": ["111122223333"],
    "^[a-zA-Z0-9:/_-]+$": ["alias/test-key_1"],
    "^[a-f0-9]+$": ["0123456789abcdef" * 4],
    "^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$": [
        "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1"
    ],
    "^[a-zA-Z0-9:/_\\s.-]+$": ["key material v2.1"],
    "[\\u0020-\\u00FF]*": ["marker-1"],
    "[\\w]+": ["default"],
    "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+": ['{"Version": "2012-10-17",\n"Statement": []}'],
    "^[\\w+=,.@:/-]+$": ["arn:aws:iam::111122223333:role/Admin"],
    "^([a-z]+-){2,3}\\d+$": ["us-west-2"],
    "^([A-Za-z0-9\\-]+)\\.([A-Za-z0-9\\-]+)(\\.[A-Za-z0-9\\-]+)+$": ["ec2.amazonaws.com"],
    "^[a-zA-Z0-9-_.]+$": ["xks-key_1.a"],
    "^[A-Z2-7]+$": ["ABCDEFGHIJKLMNOPQRST"],
    "^[a-zA-Z0-9\\/+=]+$": ["a/b+c=" + "d" * 40],
    "^https://[a-zA-Z0-9.-]+$": ["https://xks.example.com"],
    "^(/[a-zA-Z0-9\\/_-]+/kms/xks/v\\d{1,2})$|^(/kms/xks/v\\d{1,2})$": ["/kms/xks/v1"],
    "^(com|eu)\\.amazonaws\\.vpce\\.([a-z]+-){2,3}\\d+\\.vpce-svc-[0-9a-z]+$": [
        "com.amazonaws.vpce.us-east-1.vpce-svc-0123abcd"
    ],
}

TIMESTAMP = datetime(2026, 11, 28, 17, 9, 3, 123000, tzinfo=UTC)


class Unsatisfiable(Exception):
    """No value fitting the shape's constraints could be generated."""


def _clamp(preferred: int, shape: Shape) -> int:
    low = shape.metadata.get("min", 0)
    high = shape.metadata.get("max", max(preferred, low))
    return min(max(preferred, low), high)


def _fits_length(value: str, shape: Shape) -> bool:
    meta = shape.metadata
    return meta.get("min", 0) <= len(value) <= meta.get("max", len(value))


def string_candidates(shape: Shape) -> Iterator[str]:
    """Valid values for a string shape, most natural first; distinct values for list/map keys."""
    if shape.enum:
        yield from shape.enum
        return
    pattern = shape.metadata.get("pattern")
    if pattern is None:
        for index in itertools.count(1):
            base = f"välue ✓ {index} "
            length = _clamp(len(base), shape)
            yield (base * (length // len(base) + 1))[:length]
    compiled = compile_pattern(pattern)
    for candidate in PATTERN_EXAMPLES.get(pattern, []) + ["abc", "a", "1", "test-value"]:
        if _fits_length(candidate, shape) and compiled.fullmatch(candidate):
            yield candidate


def _unique(values: Iterator[str]) -> Iterator[str]:
    seen: set[str] = set()
    for value in values:
        if value not in seen:
            seen.add(value)
            yield value


def _first_string(shape: Shape) -> str:
    for value in string_candidates(shape):
        return value
    raise Unsatisfiable(f"no example for pattern {shape.metadata.get('pattern')!r} of {shape.name}")


def generate(shape: Shape, *, full: bool = True, depth: int = 0) -> Any:
    """A value valid for *shape*; ``full`` includes optional members, otherwise only required ones."""
    if depth > 12:
        raise Unsatisfiable(f"shape {shape.name} nests too deep")
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        required = set(shape.required_members)
        for name, member in shape.members.items():
            if not full and name not in required:
                continue
            try:
                out[name] = generate(member, full=full, depth=depth + 1)
            except Unsatisfiable:
                if name in required:
                    raise
        return out
    if kind == "list":
        return [generate(shape.member, full=full, depth=depth + 1) for _ in range(_clamp(2, shape))]
    if kind == "map":
        count = _clamp(2, shape)
        keys = list(itertools.islice(_unique(string_candidates(shape.key)), count))
        if len(keys) < shape.metadata.get("min", 0):
            raise Unsatisfiable(f"not enough distinct keys for {shape.name}")
        return {key: generate(shape.value, full=full, depth=depth + 1) for key in keys}
    if kind == "string":
        return _first_string(shape)
    if kind in ("integer", "long"):
        return _clamp(7, shape)
    if kind in ("float", "double"):
        return 1.5
    if kind == "boolean":
        return True
    if kind == "blob":
        length = _clamp(48, shape)
        return (bytes(range(256)) * (length // 256 + 1))[:length]
    if kind == "timestamp":
        return TIMESTAMP
    raise Unsatisfiable(f"unsupported shape type {kind}")


def _operations() -> list[tuple[str, str]]:
    return [(service, name) for service in SERVICES for name in load_service_model(service).operation_names]


@pytest.fixture(scope="module")
def protocol() -> JsonProtocol:
    return JsonProtocol([load_service_model(name) for name in SERVICES])


def _operation(service: str, name: str) -> OperationModel:
    return load_service_model(service).operation_model(name)


@pytest.mark.parametrize("full", [True, False], ids=["all-members", "required-only"])
@pytest.mark.parametrize(("service", "operation"), _operations())
def test_request_round_trip(protocol: JsonProtocol, service: str, operation: str, full: bool) -> None:
    op = _operation(service, operation)
    params = generate(op.input_shape, full=full) if op.input_shape is not None else {}
    request = create_serializer("json").serialize_to_request(params, op)

    parsed = protocol.parse(request["headers"]["X-Amz-Target"], request["body"])

    assert parsed.service_model is load_service_model(service)
    assert parsed.operation_model.name == operation
    assert parsed.params == params


@pytest.mark.parametrize("full", [True, False], ids=["all-members", "required-only"])
@pytest.mark.parametrize(("service", "operation"), _operations())
def test_response_round_trip(protocol: JsonProtocol, service: str, operation: str, full: bool) -> None:
    op = _operation(service, operation)
    result = generate(op.output_shape, full=full) if op.output_shape is not None else None

    body = protocol.serialize_result(op, result)

    if op.output_shape is None:
        assert body == b"{}"
        return
    parsed = create_parser("json").parse({"status_code": 200, "headers": {}, "body": body}, op.output_shape)
    parsed.pop("ResponseMetadata", None)
    assert parsed == result


def test_every_string_shape_has_a_valid_example() -> None:
    """The example table covers every string shape, so the round trips skip no optional member."""
    for service in SERVICES:
        model = load_service_model(service)
        for name in model.shape_names:
            shape = model.shape_for(name)
            if shape.type_name == "string":
                assert _first_string(shape)


def test_all_model_patterns_compile() -> None:
    for service in SERVICES:
        model = load_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None:
                compile_pattern(pattern)


def test_timestamps_keep_millisecond_precision(protocol: JsonProtocol) -> None:
    op = _operation("kms", "DescribeKey")
    result = {"KeyMetadata": {"KeyId": "k", "CreationDate": datetime(2017, 7, 5, 21, 4, 55, 918000, UTC)}}

    body = protocol.serialize_result(op, result)

    assert json.loads(body)["KeyMetadata"]["CreationDate"] == 1499288695.918
    parsed = create_parser("json").parse({"status_code": 200, "headers": {}, "body": body}, op.output_shape)
    assert parsed["KeyMetadata"]["CreationDate"] == result["KeyMetadata"]["CreationDate"]


class CloudHsmResourceNotFoundException(ServiceError):
    code = "CloudHsmResourceNotFoundException"


class NotFoundException(ServiceError):
    code = "NotFoundException"


@pytest.mark.parametrize(
    ("service", "operation", "error", "member"),
    [
        ("cloudhsmv2", "DescribeClusters", CloudHsmResourceNotFoundException("Cluster not found"), "Message"),
        (
            "kms",
            "DescribeKey",
            NotFoundException("Key 'arn:aws:kms:us-east-1:1:key/x' does not exist"),
            "message",
        ),
    ],
    ids=["cloudhsm-Message", "kms-message"],
)
def test_error_round_trip(
    protocol: JsonProtocol, service: str, operation: str, error: ServiceError, member: str
) -> None:
    model = load_service_model(service)
    op = model.operation_model(operation)

    status, headers, body = protocol.serialize_error(model, error)

    assert json.loads(body) == {"__type": error.code, member: error.message}
    response = {"status_code": status, "headers": headers, "body": body}
    parsed = create_parser("json").parse(response, op.output_shape)
    assert parsed["Error"] == {"Code": error.code, "Message": error.message}
    modeled = create_parser("json").parse(response, model.shape_for(error.code))
    assert modeled[member] == error.message


def test_non_modeled_error_round_trip(protocol: JsonProtocol) -> None:
    model = load_service_model("cloudhsmv2")
    error = ValidationException("1 validation error detected: ...")

    status, headers, body = protocol.serialize_error(model, error)

    parsed = create_parser("json").parse({"status_code": status, "headers": headers, "body": body}, None)
    assert parsed["Error"] == {"Code": "ValidationException", "Message": error.message}


# -- boto3 end to end, answered in-process ---------------------------------------------------------------


class _Raw:
    """The minimum of a urllib3 response that :class:`AWSResponse` reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class _FakeKms:
    def generate_random(self, context: RequestContext, number_of_bytes: int, **_: Any) -> dict[str, Any]:
        return {"Plaintext": bytes(number_of_bytes)}

    def describe_key(self, context: RequestContext, key_id: str, **_: Any) -> dict[str, Any]:
        raise NotFoundException(
            f"Key 'arn:aws:kms:{context.region}:{context.account_id}:key/{key_id}' does not exist"
        )


class _FakeCloudHsm:
    def describe_clusters(self, context: RequestContext, **_: Any) -> dict[str, Any]:
        return {
            "Clusters": [
                {"ClusterId": "cluster-abcdefgh2345", "CreateTimestamp": TIMESTAMP, "State": "ACTIVE"}
            ]
        }

    def delete_cluster(self, context: RequestContext, cluster_id: str) -> dict[str, Any]:
        raise CloudHsmResourceNotFoundException(f"Cluster {cluster_id} not found")


def _client(protocol: JsonProtocol, service: str, backend: object, seen: list[RequestContext]) -> Any:
    client = boto3.client(
        service,
        region_name="eu-west-1",
        endpoint_url="http://hsmsim.invalid",
        aws_access_key_id="111122223333",
        aws_secret_access_key="not-checked",
        config=Config(retries={"max_attempts": 1}),
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        target = target.decode() if isinstance(target, bytes) else target
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        scope = caller_scope(request.headers)
        model = protocol.service_for_target(target)
        try:
            parsed = protocol.parse(target, body)
            context = RequestContext(
                model.service_name, parsed.operation_model.name, scope.account_id, scope.region, "req-1"
            )
            seen.append(context)
            result = invoke(backend, parsed.operation_model, parsed.params, context)
            payload = protocol.serialize_result(parsed.operation_model, result)
            status, headers = 200, {"Content-Type": "application/x-amz-json-1.1"}
        except ServiceError as error:
            status, headers, payload = protocol.serialize_error(model, error)
        headers = {**headers, "x-amzn-RequestId": "req-1"}
        return AWSResponse(request.url, status, headers, _Raw(payload))

    client.meta.events.register("before-send", answer)
    return client


def test_boto3_kms_success_and_modeled_error(protocol: JsonProtocol) -> None:
    seen: list[RequestContext] = []
    kms = _client(protocol, "kms", _FakeKms(), seen)

    assert kms.generate_random(NumberOfBytes=5)["Plaintext"] == b"\x00" * 5
    with pytest.raises(kms.exceptions.NotFoundException) as caught:
        kms.describe_key(KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")

    message = (
        "Key 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' does not exist"
    )
    assert caught.value.response["Error"] == {"Code": "NotFoundException", "Message": message}
    assert caught.value.response["message"] == message
    assert caught.value.response["ResponseMetadata"]["RequestId"] == "req-1"
    assert seen[0] == RequestContext("kms", "GenerateRandom", "111122223333", "eu-west-1", "req-1")


def test_boto3_cloudhsm_success_and_modeled_error(protocol: JsonProtocol) -> None:
    seen: list[RequestContext] = []
    cloudhsm = _client(protocol, "cloudhsmv2", _FakeCloudHsm(), seen)

    clusters = cloudhsm.describe_clusters()["Clusters"]
    with pytest.raises(cloudhsm.exceptions.CloudHsmResourceNotFoundException) as caught:
        cloudhsm.delete_cluster(ClusterId="cluster-abcdefgh2345")

    assert clusters == [
        {"ClusterId": "cluster-abcdefgh2345", "CreateTimestamp": TIMESTAMP, "State": "ACTIVE"}
    ]
    assert caught.value.response["Error"]["Message"] == "Cluster cluster-abcdefgh2345 not found"
    assert caught.value.response["Message"] == "Cluster cluster-abcdefgh2345 not found"
    assert [context.operation for context in seen] == ["DescribeClusters", "DeleteCluster"]


def test_boto3_server_side_validation_error(protocol: JsonProtocol) -> None:
    """boto3 does not check ``max``; the simulator must, and boto3 surfaces it as a generic ClientError."""
    cloudhsm = _client(protocol, "cloudhsmv2", _FakeCloudHsm(), [])

    with pytest.raises(cloudhsm.exceptions.ClientError) as caught:
        cloudhsm.delete_cluster(ClusterId="cluster-x")

    assert caught.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'cluster-x' at 'clusterId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}",
    }


def test_boto3_signing_scope(protocol: JsonProtocol) -> None:
    """CloudHSM v2 signs as ``cloudhsm`` (not its endpoint prefix); KMS as ``kms``."""
    scopes = []
    for service, operation in (("cloudhsmv2", "describe_clusters"), ("kms", "generate_random")):
        client = _client(protocol, service, _FakeCloudHsm() if service == "cloudhsmv2" else _FakeKms(), [])
        client.meta.events.register_first(
            "before-send", lambda request, **_: scopes.append(caller_scope(request.headers))
        )
        getattr(client, operation)(**({"NumberOfBytes": 1} if service == "kms" else {}))

    assert [(s.signing_name, s.region, s.account_id, s.access_key_id) for s in scopes] == [
        ("cloudhsm", "eu-west-1", "111122223333", "111122223333"),
        ("kms", "eu-west-1", "111122223333", "111122223333"),
    ]


def test_foreign_model_copy_is_served(protocol: JsonProtocol) -> None:
    """serialize_result accepts operation models of a model object the protocol was not built with."""
    copy = ServiceModel(load_service_model("kms")._service_description, service_name="kms")
    op = copy.operation_model("GenerateRandom")

    assert protocol.serialize_result(op, {"Plaintext": b"ab"}) == b'{"Plaintext":"YWI="}'
