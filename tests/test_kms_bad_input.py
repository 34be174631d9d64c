"""Every KMS operation answers bad input with a 4xx AWS error, never a 500 or a hang, and changes nothing.

Inputs are generated from botocore's model: an empty request (where a member is required), and requests whose every member holds a
plausible-but-wrong value of the right type (unknown ids, junk blobs, odd strings), sent with client-side
validation off so the server sees them as AWS would.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape

from hsmsim.aws.spec import load_service_model

MODEL = load_service_model("kms")
JUNK_STRING = "junk-value"


def junk(shape: Shape, depth: int = 0) -> Any:
    """A value of ``shape``'s type that is wrong for any real key, alias, grant or token."""
    if shape.type_name == "structure":
        return {name: junk(member, depth + 1) for name, member in shape.members.items() if depth < 3}
    if shape.type_name == "list":
        return [junk(shape.member, depth + 1)]
    if shape.type_name == "map":
        return {"k": "v"}
    if shape.type_name == "blob":
        return b"\x00junk"
    if shape.type_name == "boolean":
        return False
    if shape.type_name in ("integer", "long"):
        return 1
    if shape.type_name == "timestamp":
        return 0
    if shape.enum:
        return shape.enum[0]
    return JUNK_STRING


def status_of(call: Any) -> tuple[int, str]:
    try:
        call()
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]
    return 200, ""


@pytest.mark.parametrize("operation", MODEL.operation_names)
def test_junk_gets_a_client_error_and_changes_nothing(sim: Any, operation: str) -> None:
    client = sim.client("kms", validate=False)
    existing = client.create_key(Description="bystander")["KeyMetadata"]
    before = client.describe_key(KeyId=existing["KeyId"])["KeyMetadata"]
    input_shape = MODEL.operation_model(operation).input_shape
    requests = [junk(input_shape)]
    if input_shape.required_members:  # an empty request is valid for e.g. ListKeys and CreateKey
        requests.append({})
    for params in requests:
        status, code = status_of(lambda p=params: client._make_api_call(operation, p))  # noqa: SLF001
        assert 400 <= status < 500 and code not in ("InternalFailure", "KMSInternalException"), (operation, params, code)
    assert client.describe_key(KeyId=existing["KeyId"])["KeyMetadata"] == before
    assert [k["KeyId"] for k in client.list_keys()["Keys"]] == [existing["KeyId"]]


@pytest.mark.parametrize("operation", ["Encrypt", "Decrypt", "Sign", "GenerateMac", "ReEncrypt", "CreateGrant"])
def test_junk_against_a_real_key(sim: Any, operation: str) -> None:
    """The same junk, but naming a real key: the operation gets past the lookup and must still answer 4xx."""
    client = sim.client("kms", validate=False)
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    params = junk(MODEL.operation_model(operation).input_shape)
    for member in ("KeyId", "SourceKeyId", "DestinationKeyId"):
        if member in params:
            params[member] = key_id
    status, code = status_of(lambda: client._make_api_call(operation, params))  # noqa: SLF001
    assert 400 <= status < 500 and code not in ("InternalFailure", "KMSInternalException"), (operation, code)
