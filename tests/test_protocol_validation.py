"""
Request-side failures of the JSON 1.1 layer, with exact messages: constraint violations
(ValidationException), unreadable bodies (SerializationException), unknown targets
(UnknownOperationException), plus the SigV4 caller scope.

Most cases use the real ``kms`` and ``cloudhsmv2`` models; a small synthetic model covers what they do not
exercise on input (a sensitive structure, a constrained map, doubles, ``locationName``).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.model import ServiceModel

from hsmsim.aws.errors import SerializationException, UnknownOperationException, ValidationException
from hsmsim.aws.protocol import JsonProtocol
from hsmsim.aws.sigv4 import CallerScope, caller_scope
from hsmsim.aws.spec import load_service_model

TEST_MODEL: dict[str, Any] = {
    "version": "2.0",
    "metadata": {
        "apiVersion": "2020-01-01",
        "endpointPrefix": "test",
        "jsonVersion": "1.1",
        "protocol": "json",
        "protocols": ["json"],
        "serviceId": "Test",
        "signatureVersion": "v4",
        "targetPrefix": "TestService",
        "uid": "test-2020-01-01",
    },
    "operations": {
        "Put": {
            "name": "Put",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "PutRequest"},
            "output": {"shape": "PutResponse"},
        }
    },
    "shapes": {
        "PutRequest": {
            "type": "structure",
            "members": {
                "Secret": {"shape": "Secret"},
                "Labels": {"shape": "Labels"},
                "Ratio": {"shape": "Ratio"},
                "Big": {"shape": "Big"},
                "Wire": {"shape": "Str", "locationName": "wire_name"},
            },
        },
        "Secret": {
            "type": "structure",
            "sensitive": True,
            "members": {"Pin": {"shape": "Pin"}},
            "required": ["Pin"],
        },
        "Pin": {"type": "string", "min": 4},
        "Labels": {"type": "map", "key": {"shape": "LabelKey"}, "value": {"shape": "LabelValue"}, "max": 2},
        "LabelKey": {"type": "string", "pattern": "[a-z]+"},
        "LabelValue": {"type": "string", "max": 3},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Big": {"type": "long"},
        "Str": {"type": "string"},
        "PutResponse": {
            "type": "structure",
            "members": {"Wire": {"shape": "Str", "locationName": "wire_name"}},
        },
    },
}


@pytest.fixture(scope="module")
def protocol() -> JsonProtocol:
    models = [load_service_model("cloudhsmv2"), load_service_model("kms"), ServiceModel(TEST_MODEL, "test")]
    return JsonProtocol(models)


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _validation_message(protocol: JsonProtocol, target: str, document: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as caught:
        protocol.parse(target, _body(document))
    assert caught.value.status == 400
    return caught.value.message


def _serialization_message(protocol: JsonProtocol, target: str, body: bytes) -> str:
    with pytest.raises(SerializationException) as caught:
        protocol.parse(target, body)
    assert caught.value.status == 400
    return caught.value.message


# -- ValidationException ---------------------------------------------------------------------------------


def test_required_member(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TrentService.DescribeKey", {}) == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


def test_null_member_counts_as_missing(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TrentService.DescribeKey", {"KeyId": None}) == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


def test_min_length(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TrentService.DescribeKey", {"KeyId": ""}) == (
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_max_length_in_nested_list_member(protocol: JsonProtocol) -> None:
    """Block A of kms-real-responses.md §1.1, verbatim."""
    tags = [{"TagKey": "a" * 129, "TagValue": "v"}]
    assert _validation_message(protocol, "TrentService.CreateKey", {"Tags": tags}) == (
        "1 validation error detected: Value '" + "a" * 129 + "' at 'tags.1.member.tagKey' failed to satisfy "
        "constraint: Member must have length less than or equal to 128"
    )


def test_max_length_of_tag_value(protocol: JsonProtocol) -> None:
    """Block B of kms-real-responses.md §1.1, verbatim."""
    tags = [{"TagKey": "tag1", "TagValue": "v" * 257}]
    assert _validation_message(protocol, "TrentService.CreateKey", {"Tags": tags}) == (
        "1 validation error detected: Value '"
        + "v" * 257
        + "' at 'tags.1.member.tagValue' failed to satisfy "
        "constraint: Member must have length less than or equal to 256"
    )


def test_cloudhsm_tag_list_path(protocol: JsonProtocol) -> None:
    document = {
        "HsmType": "hsm1.medium",
        "SubnetIds": ["subnet-0123abcd"],
        "TagList": [{"Key": "k" * 129, "Value": ""}],
    }
    assert _validation_message(protocol, "BaldrApiService.CreateCluster", document) == (
        "1 validation error detected: Value '" + "k" * 129 + "' at 'tagList.1.member.key' failed to satisfy "
        "constraint: Member must have length less than or equal to 128"
    )


def test_min_value(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TrentService.GenerateRandom", {"NumberOfBytes": 0}) == (
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_max_value(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TrentService.GenerateRandom", {"NumberOfBytes": 1025}) == (
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value less than or equal to 1024"
    )


def test_enum_lists_values_in_model_order(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TrentService.CreateKey", {"KeyUsage": "RANDOM"}) == (
        "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must "
        "satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, "
        "ENCAPSULATE_DECAPSULATE]"
    )


def test_pattern(protocol: JsonProtocol) -> None:
    document = {"AliasName": "alias/bad name!", "TargetKeyId": "k"}
    assert _validation_message(protocol, "TrentService.CreateAlias", document) == (
        "1 validation error detected: Value 'alias/bad name!' at 'aliasName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    )


def test_pattern_must_match_the_whole_value(protocol: JsonProtocol) -> None:
    """``cluster-[2-7a-zA-Z]{11,16}`` is unanchored in the model, yet AWS matches it against the whole value."""
    assert _validation_message(
        protocol, "BaldrApiService.DeleteCluster", {"ClusterId": "xcluster-abcdefgh2345"}
    ) == (
        "1 validation error detected: Value 'xcluster-abcdefgh2345' at 'clusterId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}"
    )


def test_pattern_of_list_element(protocol: JsonProtocol) -> None:
    document = {"HsmType": "hsm1.medium", "SubnetIds": ["subnet-0123abcd", "subnet-x"]}
    assert _validation_message(protocol, "BaldrApiService.CreateCluster", document) == (
        "1 validation error detected: Value 'subnet-x' at 'subnetIds.2.member' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: subnet-[0-9a-fA-F]{8,17}"
    )


def test_unicode_property_classes_match_unicode(protocol: JsonProtocol) -> None:
    """CloudHSM tag keys use ``\\p{L}``: letters of any script pass."""
    document = {"ResourceId": "cluster-abcdefgh2345", "TagList": [{"Key": "Ünïcode 名前", "Value": "ok"}]}
    parsed = protocol.parse("BaldrApiService.TagResource", _body(document))
    assert parsed.params == document


def test_java_word_class_is_ascii_only(protocol: JsonProtocol) -> None:
    """Java's ``\\w`` is ASCII unless UNICODE_CHARACTER_CLASS is set; Python's is not, so it is translated."""
    document = {"KeyId": "k", "PolicyName": "pölicy"}
    assert _validation_message(protocol, "TrentService.GetKeyPolicy", document) == (
        "1 validation error detected: Value 'pölicy' at 'policyName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w]+"
    )


def test_sensitive_value_is_omitted(protocol: JsonProtocol) -> None:
    plaintext = base64.b64encode(b"x" * 4268).decode()
    assert _validation_message(protocol, "TrentService.Encrypt", {"KeyId": "k", "Plaintext": plaintext}) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )


def test_sensitive_string_value_is_omitted(protocol: JsonProtocol) -> None:
    document = {"CustomKeyStoreName": "store", "KeyStorePassword": "p" * 33}
    assert _validation_message(protocol, "TrentService.CreateCustomKeyStore", document) == (
        "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: "
        "Member must have length less than or equal to 32"
    )


def test_sensitive_ancestor_hides_nested_values(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TestService.Put", {"Secret": {"Pin": "123"}}) == (
        "1 validation error detected: Value at 'secret.pin' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4"
    )


def test_blob_value_is_rendered_like_java(protocol: JsonProtocol) -> None:
    blob = base64.b64encode(b"c" * 6145).decode()
    assert _validation_message(protocol, "TrentService.Decrypt", {"CiphertextBlob": blob}) == (
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=6145 cap=6145]' at "
        "'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144"
    )


def test_list_length_renders_the_list(protocol: JsonProtocol) -> None:
    subnets = [f"subnet-{index:08x}" for index in range(11)]
    document = {"HsmType": "hsm1.medium", "SubnetIds": subnets}
    assert _validation_message(protocol, "BaldrApiService.CreateCluster", document) == (
        f"1 validation error detected: Value '[{', '.join(subnets)}]' at 'subnetIds' failed to satisfy "
        "constraint: Member must have length less than or equal to 10"
    )


def test_empty_list_violates_min(protocol: JsonProtocol) -> None:
    assert _validation_message(
        protocol, "BaldrApiService.CreateCluster", {"HsmType": "hsm1.medium", "SubnetIds": []}
    ) == (
        "1 validation error detected: Value '[]' at 'subnetIds' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_null_list_element(protocol: JsonProtocol) -> None:
    assert _validation_message(
        protocol, "BaldrApiService.CreateCluster", {"HsmType": "hsm1.medium", "SubnetIds": [None]}
    ) == (
        "1 validation error detected: Value null at 'subnetIds.1.member' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_two_errors_at_once(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "BaldrApiService.CreateCluster", {"SubnetIds": ["subnet-x"]}) == (
        "2 validation errors detected: "
        "Value null at 'hsmType' failed to satisfy constraint: Member must not be null; "
        "Value 'subnet-x' at 'subnetIds.1.member' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: subnet-[0-9a-fA-F]{8,17}"
    )


def test_length_and_pattern_of_one_value(protocol: JsonProtocol) -> None:
    assert _validation_message(
        protocol, "TrentService.CreateAlias", {"AliasName": "", "TargetKeyId": "k"}
    ) == (
        "2 validation errors detected: "
        "Value '' at 'aliasName' failed to satisfy constraint: Member must have length greater than or equal to 1; "
        "Value '' at 'aliasName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    )


def test_map_key_value_and_size(protocol: JsonProtocol) -> None:
    document = {"Labels": {"ok": "long", "BAD": "v", "c": "w"}}
    assert _validation_message(protocol, "TestService.Put", document) == (
        "3 validation errors detected: "
        "Value '{ok=long, BAD=v, c=w}' at 'labels' failed to satisfy constraint: "
        "Member must have length less than or equal to 2; "
        "Value 'long' at 'labels.ok.member' failed to satisfy constraint: "
        "Member must have length less than or equal to 3; "
        "Value 'BAD' at 'labels' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+"
    )


def test_double_range(protocol: JsonProtocol) -> None:
    assert _validation_message(protocol, "TestService.Put", {"Ratio": 1.5}) == (
        "1 validation error detected: Value '1.5' at 'ratio' failed to satisfy constraint: "
        "Member must have value less than or equal to 1"
    )


def test_filters_map_key_pattern(protocol: JsonProtocol) -> None:
    assert _validation_message(
        protocol, "BaldrApiService.DescribeClusters", {"Filters": {"bad key": ["x"]}}
    ) == (
        "1 validation error detected: Value 'bad key' at 'filters' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
    )


# -- successful parsing details --------------------------------------------------------------------------


def test_unknown_members_are_ignored(protocol: JsonProtocol) -> None:
    parsed = protocol.parse("TrentService.DescribeKey", b'{"KeyId": "k", "Bogus": {"x": [1]}}')
    assert parsed.params == {"KeyId": "k"}


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}"])
def test_empty_body_is_an_empty_object(protocol: JsonProtocol, body: bytes) -> None:
    assert protocol.parse("TrentService.ListKeys", body).params == {}


@pytest.mark.parametrize(
    "value",
    [1795885743.123, "1795885743.123", "2026-11-28T17:09:03.123Z", "2026-11-28T18:09:03.123+01:00"],
)
def test_timestamp_forms(protocol: JsonProtocol, value: Any) -> None:
    document = {"KeyId": "k", "ImportToken": "AA==", "EncryptedKeyMaterial": "AA==", "ValidTo": value}
    parsed = protocol.parse("TrentService.ImportKeyMaterial", _body(document))
    assert parsed.params["ValidTo"] == datetime(2026, 11, 28, 17, 9, 3, 123000, tzinfo=UTC)
    assert parsed.params["ValidTo"].tzinfo is UTC


def test_location_name_is_the_json_key(protocol: JsonProtocol) -> None:
    parsed = protocol.parse("TestService.Put", b'{"wire_name": "x", "Big": 9007199254740993}')
    assert parsed.params == {"Wire": "x", "Big": 9007199254740993}
    assert protocol.serialize_result(parsed.operation_model, {"Wire": "y"}) == b'{"wire_name":"y"}'


# -- SerializationException ------------------------------------------------------------------------------


def test_malformed_json(protocol: JsonProtocol) -> None:
    assert _serialization_message(protocol, "TrentService.DescribeKey", b'{"KeyId": ') == (
        "Malformed JSON request body: Expecting value: line 1 column 11 (char 10)"
    )


def test_body_not_utf8(protocol: JsonProtocol) -> None:
    message = _serialization_message(protocol, "TrentService.DescribeKey", b'{"KeyId": "\xff"}')
    assert message.startswith("Malformed JSON request body: 'utf-8' codec can't decode byte 0xff")


def test_nan_is_not_json(protocol: JsonProtocol) -> None:
    assert _serialization_message(protocol, "TrentService.GenerateRandom", b'{"NumberOfBytes": NaN}') == (
        "Malformed JSON request body: NaN is not valid JSON"
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"[]", "array"), (b'"x"', "string"), (b"null", "null"), (b"3", "number"), (b"true", "boolean")],
)
def test_body_must_be_an_object(protocol: JsonProtocol, body: bytes, kind: str) -> None:
    assert _serialization_message(protocol, "TrentService.ListKeys", body) == (
        f"Request body must be a JSON object, got {kind}"
    )


@pytest.mark.parametrize(
    ("target", "document", "message"),
    [
        (
            "TrentService.GenerateRandom",
            {"NumberOfBytes": "5"},
            "STRING_VALUE can not be converted to an Integer at 'numberOfBytes'",
        ),
        (
            "TrentService.GenerateRandom",
            {"NumberOfBytes": True},
            "BOOLEAN_VALUE can not be converted to an Integer at 'numberOfBytes'",
        ),
        (
            "TrentService.GenerateRandom",
            {"NumberOfBytes": 5.5},
            "NUMBER_VALUE can not be converted to an Integer at 'numberOfBytes'",
        ),
        (
            "TrentService.GenerateRandom",
            {"NumberOfBytes": 2**31},
            "Numeric value (2147483648) out of range of int at 'numberOfBytes'",
        ),
        (
            "TrentService.DescribeKey",
            {"KeyId": 5},
            "NUMBER_VALUE can not be converted to a String at 'keyId'",
        ),
        ("TrentService.DescribeKey", {"KeyId": ["k"]}, "Start of list found where not expected at 'keyId'"),
        (
            "TrentService.DescribeKey",
            {"KeyId": {"k": 1}},
            "Start of structure or map found where not expected at 'keyId'",
        ),
        (
            "TrentService.DescribeKey",
            {"GrantTokens": "t"},
            "STRING_VALUE can not be converted to a List at 'grantTokens'",
        ),
        (
            "BaldrApiService.CreateCluster",
            {"SubnetIds": {}},
            "Start of structure or map found where not expected at 'subnetIds'",
        ),
        (
            "TrentService.CreateKey",
            {"Tags": [{"TagKey": 5}]},
            "NUMBER_VALUE can not be converted to a String at 'tags.1.member.tagKey'",
        ),
        (
            "TrentService.CreateKey",
            {"Tags": ["t"]},
            "STRING_VALUE can not be converted to a Structure at 'tags.1.member'",
        ),
        (
            "TrentService.CreateKey",
            {"BypassPolicyLockoutSafetyCheck": 1},
            "NUMBER_VALUE can not be converted to a Boolean at 'bypassPolicyLockoutSafetyCheck'",
        ),
        (
            "TrentService.Encrypt",
            {"EncryptionContext": {"a": 1}},
            "NUMBER_VALUE can not be converted to a String at 'encryptionContext.a.member'",
        ),
        ("TrentService.Encrypt", {"KeyId": "k", "Plaintext": "!!!"}, "Invalid base64 value at 'plaintext'"),
        (
            "TrentService.Encrypt",
            {"KeyId": "k", "Plaintext": "aGVsbG8"},
            "Invalid base64 value at 'plaintext'",
        ),
        (
            "TrentService.Encrypt",
            {"KeyId": "k", "Plaintext": 12},
            "NUMBER_VALUE can not be converted to a Blob at 'plaintext'",
        ),
        (
            "TrentService.ImportKeyMaterial",
            {"ValidTo": "next tuesday"},
            "Invalid timestamp value 'next tuesday' at 'validTo'",
        ),
        (
            "TrentService.ImportKeyMaterial",
            {"ValidTo": 1e300},
            "Invalid timestamp value '1e+300' at 'validTo'",
        ),
        (
            "TrentService.ImportKeyMaterial",
            {"ValidTo": True},
            "BOOLEAN_VALUE can not be converted to a Timestamp at 'validTo'",
        ),
        ("TestService.Put", {"Ratio": "0.5"}, "STRING_VALUE can not be converted to a Double at 'ratio'"),
        (
            "TestService.Put",
            {"Big": 2**63},
            "Numeric value (9223372036854775808) out of range of long at 'big'",
        ),
    ],
)
def test_wrong_types(protocol: JsonProtocol, target: str, document: dict[str, Any], message: str) -> None:
    assert _serialization_message(protocol, target, _body(document)) == message


def test_serialization_errors_win_over_validation_errors(protocol: JsonProtocol) -> None:
    """A body that cannot be read is reported before any constraint (here: the missing KeyId)."""
    assert _serialization_message(protocol, "TrentService.Encrypt", _body({"Plaintext": "!!"})) == (
        "Invalid base64 value at 'plaintext'"
    )


# -- UnknownOperationException ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (None, "Missing X-Amz-Target header"),
        ("", "Missing X-Amz-Target header"),
        ("TrentService", "Malformed X-Amz-Target header: 'TrentService'"),
        ("TrentService.", "Malformed X-Amz-Target header: 'TrentService.'"),
        ("DynamoDB_20120810.GetItem", "Unknown service target prefix: 'DynamoDB_20120810'"),
        ("TrentService.CreateCluster", "Unknown operation: 'TrentService.CreateCluster'"),
        ("BaldrApiService.createCluster", "Unknown operation: 'BaldrApiService.createCluster'"),
    ],
)
def test_unknown_operation(protocol: JsonProtocol, target: str | None, message: str) -> None:
    with pytest.raises(UnknownOperationException) as caught:
        protocol.parse(target, b"{}")
    assert caught.value.message == message
    assert caught.value.status == 400


def test_service_for_target(protocol: JsonProtocol) -> None:
    assert protocol.service_for_target("BaldrApiService.CreateCluster").service_name == "cloudhsmv2"
    assert protocol.service_for_target("TrentService.Whatever").service_name == "kms"
    with pytest.raises(UnknownOperationException):
        protocol.service_for_target("Nope.CreateCluster")


def test_protocol_rejects_duplicate_prefix_and_non_json_models() -> None:
    kms = load_service_model("kms")
    with pytest.raises(ValueError, match="used by two"):
        JsonProtocol([kms, kms])
    cbor_only = {
        **TEST_MODEL,
        "metadata": {
            **TEST_MODEL["metadata"],
            "protocol": "smithy-rpc-v2-cbor",
            "protocols": ["smithy-rpc-v2-cbor"],
        },
    }
    with pytest.raises(ValueError, match="json protocol"):
        JsonProtocol([ServiceModel(cbor_only, "test")])


# -- SigV4 caller scope ----------------------------------------------------------------------------------

AUTH = (
    "AWS4-HMAC-SHA256 Credential={akid}/20261128/{region}/{service}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd"
)


def test_scope_from_account_shaped_access_key() -> None:
    headers = {"Authorization": AUTH.format(akid="111122223333", region="us-west-2", service="cloudhsm")}
    assert caller_scope(headers) == CallerScope("111122223333", "111122223333", "us-west-2", "cloudhsm")


def test_scope_with_ordinary_access_key_uses_default_account() -> None:
    headers = {
        "Authorization": AUTH.format(akid="AKIAIOSFODNN7EXAMPLE", region="eu-central-1", service="kms")
    }
    assert caller_scope(headers) == CallerScope("AKIAIOSFODNN7EXAMPLE", "000000000000", "eu-central-1", "kms")


@pytest.mark.parametrize("akid", ["11112222333", "1111222233334", "11112222333x", "١١١١٢٢٢٢٣٣٣٣"])
def test_only_twelve_ascii_digits_are_an_account(akid: str) -> None:
    headers = {"Authorization": AUTH.format(akid=akid, region="us-east-2", service="kms")}
    assert caller_scope(headers).account_id == "000000000000"


def test_scope_without_header_uses_defaults() -> None:
    assert caller_scope({}) == CallerScope(None, "000000000000", "us-east-1", None)
    assert caller_scope({}, default_region="ap-south-1", default_account="444455556666") == CallerScope(
        None, "444455556666", "ap-south-1", None
    )


def test_scope_header_lookup_is_case_insensitive_and_accepts_bytes() -> None:
    value = AUTH.format(akid="111122223333", region="sa-east-1", service="kms")
    assert caller_scope({"authorization": value}).region == "sa-east-1"
    assert caller_scope({"AUTHORIZATION": value.encode()}).account_id == "111122223333"


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcjpwYXNz", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", "AWS AKID:signature", ""],
)
def test_unusable_header_uses_defaults(value: str) -> None:
    assert caller_scope({"Authorization": value}) == CallerScope(None, "000000000000", "us-east-1", None)
