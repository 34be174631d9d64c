"""Property-based requests for every operation of both models (issue 10 item 3): never a 5xx, always an AWS-shaped
JSON answer, and a rejected request changes nothing.

Bodies are drawn from botocore's input shapes with hypothesis: plausible requests (enums, bounded numbers, base64
blobs, plausible ids) with exactly one member made hostile (its strings lone surrogates, NUL, control characters,
right-to-left marks, 300-character runs; or any JSON value; or a number far out of range), plausible requests as
they are, and JSON of any shape. They are sent as raw JSON over
``http.client`` (boto3 would validate or re-encode them), signed for account 111122223333 as SigV4 headers look.
Before each request the account's visible state is read (KMS keys, aliases, custom key stores; CloudHSM clusters
and backups); after a 4xx it must be the same. Derandomized, so CI always sends the same requests.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any

import pytest
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsmsim.aws.spec import load_service_model

SERVICES = {"kms": ("TrentService", "kms"), "cloudhsmv2": ("BaldrApiService", "cloudhsm")}
MODELS = {name: load_service_model(name) for name in SERVICES}
HOSTILE = st.sampled_from(["\ud800", "a\udfffb", "\udc80-x", "\x00", "\u202eevil", "tab\tnew\nline", " ",
                           "x" * 300, "\U0001f511"])
PLAUSIBLE = st.sampled_from(["alias/aws/kms", "alias/fuzz", "cluster-fuzz1234567", "hsm-fuzz1234567",
                             "backup-fuzz1234567", "cks-1234567890abcdef0", "1234abcd-12ab-34cd-56ef-1234567890ab",
                             "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                             "subnet-0123456789abcdefa", "us-east-1a", "fuzz", "*"]) | st.text("abcXYZ-_/019", max_size=12)
MESSAGELESS = {"InvalidCiphertextException", "NotAuthorizedException"}
"""Errors whose body has no message: recorded so against AWS (the first), AWS's undocumented answer for the reserved
``alias/aws/`` names (the second, kms.managedkeys)."""
ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                        max_leaves=6)


def members_of(shape: Shape) -> dict[str, Shape]:
    return {shape.serialization.get("name", name): member for name, member in shape.members.items()}


def of_type(shape: Shape, strings: st.SearchStrategy[str], depth: int = 0) -> st.SearchStrategy[Any]:
    """A JSON value of the shape's type: enums and numbers within the model's constraints, every free string drawn
    from ``strings``."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        members, required = members_of(shape), set(shape.required_members)
        return st.fixed_dictionaries(
            {name: of_type(member, strings, depth + 1) for name, member in members.items() if name in required},
            optional={name: of_type(member, strings, depth + 1) for name, member in members.items()
                      if name not in required})
    if kind == "list":
        return st.lists(of_type(shape.member, strings, depth + 1), min_size=1, max_size=2)
    if kind == "map":
        return st.dictionaries(of_type(shape.key, strings, depth + 1), of_type(shape.value, strings, depth + 1),
                               min_size=1, max_size=2)
    if kind == "blob":
        return st.binary(min_size=1, max_size=80).map(lambda raw: base64.b64encode(raw).decode())
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "long"):
        return st.integers(min_value=shape.metadata.get("min", 1), max_value=min(shape.metadata.get("max", 64), 4096))
    if kind in ("double", "float"):
        return st.floats(min_value=0, max_value=100)
    if kind == "timestamp":
        return st.integers(min_value=1_700_000_000, max_value=1_900_000_000)
    if shape.enum:
        return st.sampled_from(shape.enum)
    return strings


@st.composite
def one_member_broken(draw: st.DrawFn, shape: Shape) -> Any:
    """A plausible request with exactly one member made hostile: its strings (all of them, nested too) from
    HOSTILE, or any JSON value at all, or a number far out of range."""
    body = draw(of_type(shape, PLAUSIBLE))
    members = members_of(shape)
    name = draw(st.sampled_from(sorted(members)))
    body[name] = draw(of_type(members[name], HOSTILE, 1) | ANY_JSON | st.integers(min_value=2**31, max_value=2**70))
    return body


def request_body(operation: OperationModel) -> st.SearchStrategy[Any]:
    shape = operation.input_shape
    if shape is None or not shape.members:
        return st.just({}) | ANY_JSON
    return one_member_broken(shape) | one_member_broken(shape) | of_type(shape, PLAUSIBLE) | ANY_JSON


class Wire:
    """Raw AWS JSON requests to the server over one keep-alive connection."""

    def __init__(self, port: int, service: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.prefix, signing = SERVICES[service]
        self.auth = (f"AWS4-HMAC-SHA256 Credential=111122223333/20261208/us-east-1/{signing}/aws4_request, "
                     "SignedHeaders=host;x-amz-target, Signature=0")

    def send(self, operation: str, body: Any) -> tuple[int, dict[str, Any]]:
        self.conn.request("POST", "/", body=json.dumps(body).encode(), headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{self.prefix}.{operation}",
            "Authorization": self.auth})
        response = self.conn.getresponse()
        data = response.read()
        assert "json" in (response.getheader("Content-Type") or ""), (operation, body, data[:200])
        return response.status, json.loads(data)


def snapshot(sim: Any) -> Any:
    kms, cloudhsm = sim.client("kms", validate=False), sim.client("cloudhsmv2", validate=False)
    return (kms.list_keys(Limit=1000)["Keys"], kms.list_aliases(Limit=100)["Aliases"],
            kms.describe_custom_key_stores()["CustomKeyStores"], cloudhsm.describe_clusters()["Clusters"],
            cloudhsm.describe_backups()["Backups"])


OPERATIONS = [(service, name) for service, model in MODELS.items() for name in model.operation_names]


@pytest.mark.parametrize(("service", "operation"), OPERATIONS, ids=[f"{s}.{o}" for s, o in OPERATIONS])
def test_any_request_gets_a_json_answer_below_500_and_a_rejected_one_changes_nothing(sim, service, operation):
    wire = Wire(sim.port, service)
    model = MODELS[service].operation_model(operation)

    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(body=request_body(model))
    def check(body: Any) -> None:
        before = snapshot(sim)
        status, answer = wire.send(operation, body)
        assert status < 500, (operation, body, status, answer)
        if status >= 400:
            kind = answer.get("__type")
            assert kind and ("message" in answer or "Message" in answer or kind in MESSAGELESS), (operation, body, answer)
            assert snapshot(sim) == before, (operation, body, answer)

    try:
        check()
    finally:
        wire.conn.close()
