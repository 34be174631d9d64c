"""The server's edges: control endpoints, protocol errors on the wire, request ids, scoping by credentials."""

import json
import urllib.request
from datetime import datetime

import pytest
from botocore.exceptions import ClientError
from helpers import new_cluster


def raw(sim, body: bytes, target: str | None, content_type="application/x-amz-json-1.1"):
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(sim.url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_health(sim):
    status, body = sim.control("GET", "/_hsmsim/health")
    assert status == 200
    assert body["status"] == "ok" and body["services"] == ["cloudhsmv2", "kms"] and body["version"]


def test_clock_moves_only_forward(sim):
    _, before = sim.control("GET", "/_hsmsim/clock")
    status, after = sim.control("POST", "/_hsmsim/clock", {"advance_seconds": 86400})
    assert status == 200
    moved = datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"])
    assert 86400 <= moved.total_seconds() < 86400 + 60
    for body, fragment in (({"advance_seconds": -1}, "must not be negative"), ({"advance_seconds": "x"}, "number"), ({}, "number")):
        status, error = sim.control("POST", "/_hsmsim/clock", body)
        assert status == 400 and error["__type"] == "ValidationException" and fragment in error["message"]


def test_reset_wipes_clusters_and_tokens(sim, cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    hsm_id = cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    assert hsm_id in sim.tokens()
    sim.advance(3600)
    status, _ = sim.control("POST", "/_hsmsim/reset")
    assert status == 200
    assert cloudhsm.describe_clusters()["Clusters"] == []
    assert sorted(sim.tokens()) == ["hsmsim-kms", "hsmsim-roots"]  # the simulator's own tokens stay
    _, clock = sim.control("GET", "/_hsmsim/clock")
    assert abs(datetime.fromisoformat(clock["now"]).timestamp() - datetime.now().timestamp()) < 60


def test_request_id_on_success_and_error(sim, cloudhsm):
    ok = cloudhsm.describe_clusters()
    assert len(ok["ResponseMetadata"]["RequestId"]) == 36
    with pytest.raises(ClientError) as exc:
        cloudhsm.delete_cluster(ClusterId="cluster-aaaaaaaaaaa")
    assert len(exc.value.response["ResponseMetadata"]["RequestId"]) == 36
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("body", "target", "code"),
    [
        (b"{not json", "BaldrApiService.DescribeClusters", "SerializationException"),
        (b"[1, 2]", "BaldrApiService.DescribeClusters", "SerializationException"),
        (b'{"MaxResults": "ten"}', "BaldrApiService.DescribeClusters", "SerializationException"),
        (b"{}", "BaldrApiService.MakeCoffee", "UnknownOperationException"),
        (b"{}", "NoSuchService.DescribeClusters", "UnknownOperationException"),
        (b"{}", None, "UnknownOperationException"),
        (b"{}", "BaldrApiService.CreateCluster", "ValidationException"),
    ],
)
def test_protocol_errors_are_json_4xx(sim, body, target, code):
    status, headers, payload = raw(sim, body, target)
    assert 400 <= status < 500
    assert payload["__type"] == code
    assert (payload.get("message") or payload.get("Message"))
    assert headers["x-amzn-RequestId"]


def test_cloudhsm_errors_use_capitalised_message(sim):
    status, headers, payload = raw(sim, b'{"ClusterId": "cluster-aaaaaaaaaaa"}', "BaldrApiService.DeleteCluster")
    assert status == 400
    assert payload == {"__type": "CloudHsmResourceNotFoundException", "Message": "Cluster 'cluster-aaaaaaaaaaa' not found."}
    assert headers["X-Amzn-ErrorType"] == "CloudHsmResourceNotFoundException"


def test_unknown_path_is_a_json_error_not_html(sim):
    status, body = sim.control("GET", "/no/such/path")
    assert status == 404 and body["__type"]


def test_anonymous_requests_use_the_default_account(sim):
    status, _, payload = raw(sim, b"{}", "BaldrApiService.DescribeClusters")
    assert status == 200 and payload == {"Clusters": []}
