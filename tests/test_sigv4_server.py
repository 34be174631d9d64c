"""``hsmsim serve --credentials FILE``: a real server that verifies SigV4 signatures, driven by boto3 and by raw HTTP.

Every rejected request is answered with AWS's error (JSON ``__type`` and ``message``, HTTP 400) and changes nothing:
the tests check the state (ListKeys, DescribeClusters) with a correctly signed client afterwards. Without the file
(the session's shared server) unsigned requests are served as before.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ServerProcess

# alice is an IAM user: with credentials on, the default key policy delegates to her IAM policy (issue 10 item 5)
ALICE = {"access_key_id": "AKIDALICE", "secret_access_key": "alice-secret", "account_id": "111122223333",
         "principal": "arn:aws:iam::111122223333:user/alice",
         "iam_policy": {"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}}
# a 12-digit access key of another account: the account must come from the file, not from the key's digits
BOB = {"access_key_id": "999999999999", "secret_access_key": "bob-secret", "account_id": "444455556666"}
SUBNETS = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb"]
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.")
SERVE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def verifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("sigv4")
    credentials = root / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [ALICE, BOB]}))
    process = ServerProcess(root / "data", args=["--credentials", str(credentials)])
    yield process.start()
    process.stop()


@pytest.fixture
def verified(verifying: ServerProcess) -> ServerProcess:
    status, body = verifying.control("POST", "/_hsmsim/reset")  # the control plane needs no signature
    assert status == 200, body
    return verifying


def client(server: ServerProcess, service: str, credential: dict[str, str] | None = None, *, secret: str | None = None,
           key_id: str | None = None, region: str = "us-east-1", unsigned: bool = False) -> Any:
    credential = credential or ALICE
    config = BotoConfig(retries={"max_attempts": 1, "mode": "standard"},
                        signature_version=botocore.UNSIGNED if unsigned else None)
    return boto3.client(service, endpoint_url=server.url, region_name=region, config=config,
                        aws_access_key_id=key_id or credential["access_key_id"],
                        aws_secret_access_key=secret or credential["secret_access_key"])


def error_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    response = raised.value.response
    return {"code": response["Error"]["Code"], "message": response["Error"]["Message"],
            "status": response["ResponseMetadata"]["HTTPStatusCode"]}


def key_ids(server: ServerProcess, credential: dict[str, str] | None = None) -> list[str]:
    return [key["KeyId"] for key in client(server, "kms", credential).list_keys()["Keys"]]


def signed(server: ServerProcess, operation: str, params: dict[str, Any], *, credential: dict[str, str] | None = None,
           when: datetime | None = None, service: str = "kms") -> tuple[dict[str, str], bytes]:
    """A KMS request signed by botocore's signer, dated ``when`` (default now): (headers, body)."""
    credential = credential or ALICE
    body = json.dumps(params).encode()
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{operation}"})
    signer = SigV4Auth(Credentials(credential["access_key_id"], credential["secret_access_key"]), service, "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:  # add_auth always dates the request now; the signer's steps with a chosen date
        timestamp = when.strftime("%Y%m%dT%H%M%SZ")
        request.context["timestamp"] = timestamp
        request.headers["X-Amz-Date"] = timestamp
        signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        signer._inject_signature_to_request(request, signature)
    return dict(request.headers.items()), body


def send(server: ServerProcess, headers: dict[str, str] | list[tuple[str, bytes]], body: bytes) -> tuple[int, Any]:
    """POST / with exactly these headers (values may be raw bytes); (status, decoded JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest("POST", "/", skip_accept_encoding=True)
        for name, value in (headers.items() if isinstance(headers, dict) else headers):
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# -- correctly signed requests ------------------------------------------------------------------------------------


def test_kms_with_the_right_secret_works_in_the_credentials_account(verified: ServerProcess) -> None:
    kms = client(verified, "kms")
    key = kms.create_key(Description="signed")["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    assert key_ids(verified) == [key["KeyId"]]


def test_the_account_is_the_credentials_not_the_access_key_digits(verified: ServerProcess) -> None:
    key = client(verified, "kms", BOB, region="eu-west-1").create_key()["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:eu-west-1:444455556666:key/")
    assert key_ids(verified) == []  # not in ALICE's account


def test_cloudhsm_with_the_right_secret_works(verified: ServerProcess) -> None:
    cloudhsm = client(verified, "cloudhsmv2")
    cluster = cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS)["Cluster"]
    described = cloudhsm.describe_clusters()["Clusters"]
    assert [c["ClusterId"] for c in described] == [cluster["ClusterId"]]


# -- rejected requests: AWS's errors, nothing changed ----------------------------------------------------------


def test_a_wrong_secret_is_an_invalid_signature(verified: ServerProcess) -> None:
    error = error_of(client(verified, "kms", secret="not-alice-secret").create_key)
    assert error == {"code": "InvalidSignatureException", "message": MISMATCH, "status": 400}
    assert key_ids(verified) == []


def test_a_wrong_secret_on_cloudhsm_is_an_invalid_signature(verified: ServerProcess) -> None:
    cloudhsm = client(verified, "cloudhsmv2", secret="not-alice-secret")
    error = error_of(cloudhsm.create_cluster, HsmType="hsm1.medium", SubnetIds=SUBNETS)
    assert error == {"code": "InvalidSignatureException", "message": MISMATCH, "status": 400}
    assert client(verified, "cloudhsmv2").describe_clusters()["Clusters"] == []


def test_an_unknown_access_key_is_unrecognized(verified: ServerProcess) -> None:
    error = error_of(client(verified, "kms", key_id="AKIDNOBODY").create_key)
    assert error == {"code": "UnrecognizedClientException",
                     "message": "The security token included in the request is invalid.", "status": 400}
    assert key_ids(verified) == []


def test_an_unsigned_request_is_missing_its_token(verified: ServerProcess) -> None:
    error = error_of(client(verified, "kms", unsigned=True).create_key)
    assert error == {"code": "MissingAuthenticationTokenException", "message": "Missing Authentication Token",
                     "status": 400}
    assert error_of(client(verified, "cloudhsmv2", unsigned=True).describe_clusters)["code"] == (
        "MissingAuthenticationTokenException")
    assert key_ids(verified) == []


def test_a_malformed_authorization_header_is_an_incomplete_signature(verified: ServerProcess) -> None:
    headers, body = signed(verified, "CreateKey", {})
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20250101/us-east-1/kms/aws4_request"
    status, answer = send(verified, headers, body)
    assert status == 400
    assert answer["__type"] == "IncompleteSignatureException"
    assert answer["message"].startswith("Authorization header requires 'Signature' parameter. Authorization header "
                                        "requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 ")
    assert key_ids(verified) == []


def test_an_expired_signature_is_rejected_with_awss_message(verified: ServerProcess) -> None:
    when = datetime.now(UTC) - timedelta(minutes=10)
    headers, body = signed(verified, "CreateKey", {}, when=when)
    status, answer = send(verified, headers, body)
    assert status == 400
    assert answer["__type"] == "InvalidSignatureException"
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    assert answer["message"].startswith(f"Signature expired: {stamp} is now earlier than ")
    assert answer["message"].endswith(" - 5 min.)")
    # the two times AWS names are (now - 5 min) and now, on the real clock
    earlier, now = answer["message"].removeprefix(f"Signature expired: {stamp} is now earlier than ").split(" (")
    parsed = [datetime.strptime(text, "%Y%m%dT%H%M%SZ") for text in (earlier, now.removesuffix(" - 5 min.)"))]
    assert parsed[1] - parsed[0] == timedelta(minutes=5)
    assert parsed[0] > when.replace(tzinfo=None)
    assert key_ids(verified) == []


def test_a_signature_from_the_future_is_not_yet_current(verified: ServerProcess) -> None:
    headers, body = signed(verified, "CreateKey", {}, when=datetime.now(UTC) + timedelta(minutes=10))
    status, answer = send(verified, headers, body)
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")
    assert answer["message"].startswith("Signature not yet current: ")
    assert key_ids(verified) == []


def test_a_signature_within_the_skew_is_accepted(verified: ServerProcess) -> None:
    headers, body = signed(verified, "CreateKey", {"Description": "a little old"},
                           when=datetime.now(UTC) - timedelta(minutes=3))
    status, answer = send(verified, headers, body)
    assert status == 200, answer
    assert key_ids(verified) == [answer["KeyMetadata"]["KeyId"]]


def test_the_simulated_clock_plays_no_part(verified: ServerProcess) -> None:
    verified.advance(7 * 24 * 3600)  # a week of simulated time: signatures are checked on the real clock
    assert client(verified, "kms").list_keys()["Keys"] == []


def test_a_tampered_body_is_an_invalid_signature(verified: ServerProcess) -> None:
    kms = client(verified, "kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    headers, body = signed(verified, "DisableKey", {"KeyId": "alias/nothing"})
    tampered = body.replace(b"alias/nothing", key_id.encode())
    status, answer = send(verified, headers, tampered)
    assert (status, answer) == (400, {"__type": "InvalidSignatureException", "message": MISMATCH})
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"] is True


def test_a_replayed_request_with_another_target_is_an_invalid_signature(verified: ServerProcess) -> None:
    headers, body = signed(verified, "ListKeys", {})
    headers["X-Amz-Target"] = "TrentService.CreateKey"
    status, answer = send(verified, headers, body)
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")
    assert key_ids(verified) == []


def test_a_scope_of_another_service_is_rejected(verified: ServerProcess) -> None:
    headers, body = signed(verified, "CreateKey", {}, service="cloudhsm")
    status, answer = send(verified, headers, body)
    assert (status, answer) == (400, {"__type": "InvalidSignatureException",
                                      "message": "Credential should be scoped to correct service: 'kms'. "})
    assert key_ids(verified) == []


@pytest.mark.parametrize("mangle", ["credential", "signature", "date", "target"])
def test_undecodable_header_bytes_are_answered_never_a_500(verified: ServerProcess, mangle: str) -> None:
    offset = verified.log_offset()
    headers, body = signed(verified, "CreateKey", {})
    raw = [(name, value.encode("latin-1")) for name, value in headers.items()]
    wanted = {"credential": "Authorization", "signature": "Authorization", "date": "X-Amz-Date",
              "target": "X-Amz-Target"}[mangle]
    for index, (name, value) in enumerate(raw):
        if name == wanted:
            if mangle == "credential":
                value = value.replace(b"Credential=", b"Credential=\xff\xfe")
            elif mangle == "signature":
                value = value[:-4] + b"\xc3\x28\xff\x80"
            else:
                value = value + b"\xff"
            raw[index] = (name, value)
    status, answer = send(verified, raw, body)
    assert 400 <= status < 500, answer
    assert answer["__type"] in ("UnrecognizedClientException", "InvalidSignatureException",
                                "IncompleteSignatureException", "UnknownOperationException")
    assert key_ids(verified) == []
    assert "Traceback" not in verified.log_since(offset)


def test_the_control_plane_needs_no_signature(verified: ServerProcess) -> None:
    status, health = verified.control("GET", "/_hsmsim/health")
    assert status == 200
    assert health["verify_signatures"] is True


# -- without a credentials file, and a bad one ---------------------------------------------------------------------


def test_without_a_credentials_file_unsigned_requests_still_work(sim: ServerProcess) -> None:
    status, health = sim.control("GET", "/_hsmsim/health")
    assert (status, health["verify_signatures"]) == (200, False)
    unsigned = boto3.client("kms", endpoint_url=sim.url, region_name="us-east-1",
                            config=BotoConfig(signature_version=botocore.UNSIGNED))
    key = unsigned.create_key()["KeyMetadata"]
    assert key["Arn"].startswith(f"arn:aws:kms:us-east-1:{health['default_account']}:key/")
    # and any secret is taken, as before
    assert client(sim, "kms", key_id="AKIDNOBODY", secret="whatever").list_keys()["Keys"][0]["KeyId"] == key["KeyId"]


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``hsmsim serve`` that is expected to refuse to start (bounded by a timeout)."""
    return subprocess.run([sys.executable, "-m", "hsmsim", "serve", "--port", "0", "--data-dir",
                           str(tmp_path / "data"), *args], capture_output=True, text=True, timeout=SERVE_TIMEOUT_S,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("content", "says"), [
    (None, "no such file"),
    ('{"credentials": [', "not JSON"),
    ('{"credentials": []}', "'credentials' is empty"),
    (json.dumps({"credentials": [{**ALICE, "account_id": "12345"}]}), "account_id '12345' must be 12 digits"),
    (json.dumps({"credentials": [{k: v for k, v in ALICE.items() if k != "secret_access_key"}]}),
     "'secret_access_key' is missing"),
    (json.dumps({"credentials": [{**ALICE, "principal": "arn:aws:iam::444455556666:role/x"}]}),
     "is not of account 111122223333"),
])
def test_a_bad_credentials_file_stops_the_start_with_a_clear_error(tmp_path: Path, content: str | None,
                                                                    says: str) -> None:
    path = tmp_path / "credentials.json"
    if content is not None:
        path.write_text(content)
    result = serve(tmp_path, "--credentials", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith(f"hsmsim serve: error: --credentials: credentials file {path}: ")
    assert says in result.stderr
    assert ALICE["secret_access_key"] not in result.stderr


def test_hsmsim_credentials_in_the_environment_turns_verification_on(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    result = serve(tmp_path, env={"HSMSIM_CREDENTIALS": str(path)})
    assert result.returncode == 2
    assert f"credentials file {path}: no such file" in result.stderr
