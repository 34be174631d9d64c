"""Bytes that must never make a 500 (issue 10 item 3): lone surrogates in any string, undecodable header bytes,
and HTTP that aiohttp cannot parse. Raw requests over a socket to the real server; each answer is a 4xx with an
AWS-shaped JSON body, nothing changes, and the server log holds no traceback."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import pytest

KMS_SCOPE = b"AWS4-HMAC-SHA256 Credential=111122223333/20261208/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0"
HSM_SCOPE = KMS_SCOPE.replace(b"/kms/", b"/cloudhsm/")


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one HTTP response: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without a response: {received!r}"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of the body"
            body += chunk
    return int(lines[0].split()[1]), headers, body


def aws_request(port: int, target: bytes, body: bytes, auth: bytes = KMS_SCOPE, extra: bytes = b"") -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: "
            + target + b"\r\nAuthorization: " + auth + b"\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body)
            + body)


def json_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert 400 <= status < 500, (status, body)
    assert "json" in headers["content-type"], headers
    error = json.loads(body)
    assert error["__type"] and error["message"], error
    return error


@pytest.fixture
def log(sim: Any) -> Any:
    """The server's log lines written during this test."""
    offset = sim.log_offset()
    return lambda: sim.log_since(offset)


@pytest.mark.parametrize(("target", "body", "member"), [
    (b"TrentService.CreateKey", b'{"Description": "before \\ud800 after"}', "description"),
    (b"TrentService.CreateKey", b'{"Tags": [{"TagKey": "k", "TagValue": "\\udfff"}]}', "tags.1.member.tagValue"),
    (b"TrentService.GenerateRandom", b'{"NumberOfBytes": 8, "CustomKeyStoreId": "\\ud800"}', "customKeyStoreId"),
    (b"TrentService.Encrypt", b'{"KeyId": "alias/x", "Plaintext": "AA==", "EncryptionContext": {"\\ud800": "v"}}',
     "encryptionContext"),
    (b"TrentService.Encrypt", b'{"KeyId": "alias/x", "Plaintext": "AA==", "EncryptionContext": {"k": "\\udc80"}}',
     "encryptionContext.k.member"),
])
def test_a_lone_surrogate_is_a_serialization_error_naming_the_member(sim, target, body, member):
    error = json_error(*exchange(sim.port, aws_request(sim.port, target, body)))
    assert error["__type"] == "SerializationException"
    assert "lone surrogate" in error["message"] and f"at '{member}" in error["message"], error
    assert sim.client("kms").list_keys()["Keys"] == []  # nothing was made


def test_a_lone_surrogate_in_a_cloudhsm_filter(sim, log):
    body = b'{"Filters": {"clusterIds": ["cluster-\\udc00"]}}'
    error = json_error(*exchange(sim.port, aws_request(sim.port, b"BaldrApiService.DescribeClusters", body, HSM_SCOPE)))
    assert error["__type"] == "SerializationException" and "filters.clusterIds" in error["message"], error
    assert "Traceback" not in log()


def test_undecodable_bytes_in_the_credential_scope_are_the_default_scope(sim, log):
    sim.client("kms").create_key()  # in 111122223333
    bad_scope = KMS_SCOPE.replace(b"us-east-1", b"us-east-\xff1")
    status, _, body = exchange(sim.port, aws_request(sim.port, b"TrentService.ListKeys", b"{}", bad_scope))
    assert status == 200 and json.loads(body)["Keys"] == []  # served as the default account, not a 500
    assert "Traceback" not in log()


@pytest.mark.parametrize(("name", "data", "says"), [
    ("NUL in a header", b"X-Junk: a\x00b\r\n", "Invalid header value char"),
    ("duplicated Content-Type", b"Content-Type: text/plain\r\n", "Duplicate 'Content-Type' header"),
    ("header over 8 KB", b"X-Big: " + b"a" * 9000 + b"\r\n", "8190 bytes"),
])
def test_http_junk_in_headers_gets_a_json_error(sim, log, name, data, says):
    error = json_error(*exchange(sim.port, aws_request(sim.port, b"TrentService.CreateKey", b"{}", extra=data)))
    assert error["__type"] == "BadRequest" and says in error["message"], (name, error)
    written = log()
    assert len(re.findall("unparsable HTTP request", written)) == 1 and "Traceback" not in written
    assert sim.client("kms").list_keys()["Keys"] == []


@pytest.mark.parametrize("data", [b"BREW / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"GARBAGE\r\n\r\n"])
def test_a_request_line_that_is_not_http_gets_a_json_error(sim, log, data):
    status, headers, body = exchange(sim.port, data)
    error = json_error(status, headers, body)
    assert error["__type"] == "BadRequest" and "x-amzn-requestid" in headers
    assert "Traceback" not in log()
