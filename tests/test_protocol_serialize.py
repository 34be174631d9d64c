"""
Response side of the JSON 1.1 layer: result serialization rules and service bugs it must surface, error
responses (status, headers, message member casing), and dispatch to service objects.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hsmsim.aws.context import RequestContext
from hsmsim.aws.dispatch import invoke, method_name, missing_operations, operation_kwargs
from hsmsim.aws.errors import (
    InternalFailure,
    SerializationException,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from hsmsim.aws.protocol import JsonProtocol
from hsmsim.aws.serializer import ResultShapeError
from hsmsim.aws.spec import load_service_model


@pytest.fixture(scope="module")
def protocol() -> JsonProtocol:
    return JsonProtocol([load_service_model("cloudhsmv2"), load_service_model("kms")])


def _serialize(protocol: JsonProtocol, service: str, operation: str, result: Any) -> Any:
    op = load_service_model(service).operation_model(operation)
    return json.loads(protocol.serialize_result(op, result))


class ClusterState(enum.Enum):
    ACTIVE = "ACTIVE"


# -- results ---------------------------------------------------------------------------------------------


def test_result_is_compact_json(protocol: JsonProtocol) -> None:
    op = load_service_model("kms").operation_model("Encrypt")
    body = protocol.serialize_result(op, {"KeyId": "arn", "CiphertextBlob": b"\x00\xff"})
    assert body == b'{"KeyId":"arn","CiphertextBlob":"AP8="}'


def test_none_members_are_omitted(protocol: JsonProtocol) -> None:
    assert _serialize(protocol, "kms", "Encrypt", {"KeyId": "arn", "CiphertextBlob": None}) == {
        "KeyId": "arn"
    }


@pytest.mark.parametrize(
    ("service", "operation", "result"),
    [
        ("kms", "ConnectCustomKeyStore", None),
        ("kms", "ConnectCustomKeyStore", {}),
        ("kms", "CreateAlias", None),
        ("cloudhsmv2", "TagResource", None),
    ],
)
def test_empty_outputs_are_an_empty_object(
    protocol: JsonProtocol, service: str, operation: str, result: Any
) -> None:
    op = load_service_model(service).operation_model(operation)
    assert protocol.serialize_result(op, result) == b"{}"


def test_timestamps_are_epoch_seconds_with_milliseconds(protocol: JsonProtocol) -> None:
    created = datetime(2017, 7, 5, 21, 4, 55, 918765, UTC)
    other_zone = datetime(2017, 7, 5, 23, 4, 55, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2017, 7, 5, 21, 4, 55)
    for value, expected in (
        (created, 1499288695.918),
        (other_zone, 1499288695),
        (naive, 1499288695),
        (12.5, 12.5),
    ):
        document = _serialize(
            protocol, "kms", "DescribeKey", {"KeyMetadata": {"KeyId": "k", "CreationDate": value}}
        )
        assert document["KeyMetadata"]["CreationDate"] == expected
        assert type(document["KeyMetadata"]["CreationDate"]) is type(expected)


def test_nested_lists_maps_and_enums(protocol: JsonProtocol) -> None:
    result = {
        "Clusters": [
            {
                "ClusterId": "cluster-abcdefgh2345",
                "State": ClusterState.ACTIVE,
                "SubnetMapping": {"us-east-1a": "subnet-0123abcd"},
                "Hsms": [{"HsmId": "hsm-abcdefgh2345", "EniIp": "10.0.0.1"}],
                "TagList": (),
            }
        ]
    }
    assert _serialize(protocol, "cloudhsmv2", "DescribeClusters", result) == {
        "Clusters": [
            {
                "ClusterId": "cluster-abcdefgh2345",
                "State": "ACTIVE",
                "SubnetMapping": {"us-east-1a": "subnet-0123abcd"},
                "Hsms": [{"HsmId": "hsm-abcdefgh2345", "EniIp": "10.0.0.1"}],
                "TagList": [],
            }
        ]
    }


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            {"Bogus": 1},
            "DescribeClustersResponse: shape DescribeClustersResponse has no member 'Bogus' (at <result>)",
        ),
        (
            {"Clusters": [{"ClusterId": "c", "Hsms": [{"HsmId": "h", "Colour": "red"}]}]},
            "DescribeClustersResponse: shape Hsm has no member 'Colour' (at Clusters.0.Hsms.0)",
        ),
        (
            {"Clusters": [{"CreateTimestamp": "yesterday"}]},
            "DescribeClustersResponse: expected a value for timestamp shape Timestamp, got str "
            "(at Clusters.0.CreateTimestamp)",
        ),
        (
            {"Clusters": {"ClusterId": "c"}},
            "DescribeClustersResponse: expected a value for list shape Clusters, got dict (at Clusters)",
        ),
        (
            {"Clusters": [{"ClusterId": 5}]},
            "DescribeClustersResponse: expected a value for string shape ClusterId, got int (at Clusters.0.ClusterId)",
        ),
        (
            {"Clusters": [{"SubnetMapping": {1: "s"}}]},
            "DescribeClustersResponse: map ExternalSubnetMapping has a non-string key 1 (at Clusters.0.SubnetMapping)",
        ),
        (
            {"NextToken": b"t"},
            "DescribeClustersResponse: expected a value for string shape NextToken, got bytes (at NextToken)",
        ),
    ],
)
def test_results_that_do_not_fit_the_shape_are_bugs(
    protocol: JsonProtocol, result: Any, message: str
) -> None:
    op = load_service_model("cloudhsmv2").operation_model("DescribeClusters")
    with pytest.raises(ResultShapeError) as caught:
        protocol.serialize_result(op, result)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("operation", "result", "shape_type"),
    [
        ("GetKeyRotationStatus", {"RotationPeriodInDays": True}, "integer"),
        ("GetKeyRotationStatus", {"RotationPeriodInDays": 90.0}, "integer"),
        ("ListKeys", {"Truncated": 1}, "boolean"),
        ("GenerateRandom", {"Plaintext": "text"}, "blob"),
        ("GetParametersForImport", {"ParametersValidTo": True}, "timestamp"),
    ],
)
def test_scalar_type_bugs(protocol: JsonProtocol, operation: str, result: Any, shape_type: str) -> None:
    op = load_service_model("kms").operation_model(operation)
    with pytest.raises(ResultShapeError, match=f"expected a value for {shape_type} shape"):
        protocol.serialize_result(op, result)


def test_output_on_operation_without_output_is_a_bug(protocol: JsonProtocol) -> None:
    op = load_service_model("kms").operation_model("CreateAlias")
    with pytest.raises(ResultShapeError, match="no output shape"):
        protocol.serialize_result(op, {"AliasName": "alias/x"})


# -- errors ----------------------------------------------------------------------------------------------


class CloudHsmInvalidRequestException(ServiceError):
    code = "CloudHsmInvalidRequestException"


class InvalidCiphertextException(ServiceError):
    code = "InvalidCiphertextException"
    include_message = False


class DependencyTimeoutException(ServiceError):
    code = "DependencyTimeoutException"
    status = 503


def test_cloudhsm_error_uses_capitalised_message(protocol: JsonProtocol) -> None:
    status, headers, body = protocol.serialize_error(
        load_service_model("cloudhsmv2"), CloudHsmInvalidRequestException("bad cluster")
    )
    assert status == 400
    assert headers == {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amzn-ErrorType": "CloudHsmInvalidRequestException",
    }
    assert body == b'{"__type":"CloudHsmInvalidRequestException","Message":"bad cluster"}'


def test_kms_error_uses_lowercase_message_and_class_status(protocol: JsonProtocol) -> None:
    status, headers, body = protocol.serialize_error(
        load_service_model("kms"), DependencyTimeoutException("slow")
    )
    assert status == 503
    assert headers["X-Amzn-ErrorType"] == "DependencyTimeoutException"
    assert body == b'{"__type":"DependencyTimeoutException","message":"slow"}'


def test_error_without_message_member(protocol: JsonProtocol) -> None:
    kms = load_service_model("kms")
    assert (
        protocol.serialize_error(kms, InvalidCiphertextException())[2]
        == b'{"__type":"InvalidCiphertextException"}'
    )
    explicit = ValidationException("x", include_message=False)
    assert protocol.serialize_error(kms, explicit)[2] == b'{"__type":"ValidationException"}'


def test_empty_message_is_still_sent_by_default(protocol: JsonProtocol) -> None:
    body = protocol.serialize_error(load_service_model("cloudhsmv2"), CloudHsmInvalidRequestException())[2]
    assert body == b'{"__type":"CloudHsmInvalidRequestException","Message":""}'


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationException("v"), 400),
        (SerializationException("s"), 400),
        (UnknownOperationException("u"), 400),
        (InternalFailure("i"), 500),
    ],
)
def test_common_errors_use_lowercase_message(
    protocol: JsonProtocol, error: ServiceError, status: int
) -> None:
    for model in (load_service_model("cloudhsmv2"), None):
        got_status, headers, body = protocol.serialize_error(model, error)
        assert got_status == status
        assert headers["X-Amzn-ErrorType"] == error.code
        assert json.loads(body) == {"__type": error.code, "message": error.message}


def test_service_error_basics() -> None:
    error = CloudHsmInvalidRequestException("boom")
    assert str(error) == "boom"
    assert repr(error) == "CloudHsmInvalidRequestException('boom')"
    assert ServiceError().code == "ServiceException" and ServiceError().status == 400
    assert InvalidCiphertextException("x", include_message=True).include_message is True


# -- dispatch --------------------------------------------------------------------------------------------

CONTEXT = RequestContext("cloudhsmv2", "CreateCluster", "111122223333", "us-east-1", "req-1")


class _PartialCloudHsm:
    def __init__(self) -> None:
        self.calls: list[tuple[RequestContext, dict[str, Any]]] = []

    def create_cluster(self, context: RequestContext, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((context, kwargs))
        return {"Cluster": {"ClusterId": "cluster-abcdefgh2345"}}

    def tag_resource(self, context: RequestContext, resource_id: str, tag_list: list[Any]) -> None:
        return None

    describe_clusters = "not callable"


def test_invoke_converts_names_and_passes_context() -> None:
    model = load_service_model("cloudhsmv2")
    service = _PartialCloudHsm()
    params = {
        "HsmType": "hsm1.medium",
        "SubnetIds": ["subnet-0123abcd"],
        "BackupRetentionPolicy": {"Type": "DAYS"},
    }

    result = invoke(service, model.operation_model("CreateCluster"), params, CONTEXT)

    assert result == {"Cluster": {"ClusterId": "cluster-abcdefgh2345"}}
    assert service.calls == [
        (
            CONTEXT,
            {
                "hsm_type": "hsm1.medium",
                "subnet_ids": ["subnet-0123abcd"],
                "backup_retention_policy": {"Type": "DAYS"},
            },
        )
    ]


def test_invoke_turns_none_into_empty_result() -> None:
    op = load_service_model("cloudhsmv2").operation_model("TagResource")
    assert invoke(_PartialCloudHsm(), op, {"ResourceId": "r", "TagList": []}, CONTEXT) == {}


def test_invoke_missing_method() -> None:
    op = load_service_model("cloudhsmv2").operation_model("DescribeClusters")
    with pytest.raises(
        NotImplementedError, match="_PartialCloudHsm does not implement operation DescribeClusters"
    ):
        invoke(_PartialCloudHsm(), op, {}, CONTEXT)


def test_missing_operations_in_model_order() -> None:
    model = load_service_model("cloudhsmv2")
    missing = missing_operations(_PartialCloudHsm(), model)
    assert "CreateCluster" not in missing and "TagResource" not in missing
    assert missing == [name for name in model.operation_names if name not in ("CreateCluster", "TagResource")]


def test_names() -> None:
    op = load_service_model("kms").operation_model("GenerateDataKeyPairWithoutPlaintext")
    assert method_name(op.name) == "generate_data_key_pair_without_plaintext"
    assert operation_kwargs(op, {"KeyId": "k", "KeyPairSpec": "RSA_2048", "DryRun": False}) == {
        "key_id": "k",
        "key_pair_spec": "RSA_2048",
        "dry_run": False,
    }
