"""SigV4 verification (:class:`hsmsim.aws.sigv4.SigV4Verifier`) against botocore's own signer, and the credentials
file's validation (:mod:`hsmsim.aws.credentials`): requests are signed with ``botocore.auth.SigV4Auth`` and verified
by hsmsim's verifier, no server involved (the server tests are in test_sigv4_server.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from hsmsim.aws.credentials import CredentialsFileError, CredentialStore, load_credentials, parse_credentials
from hsmsim.aws.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from hsmsim.aws.sigv4 import SIGNATURE_MISMATCH, SigV4Verifier, canonical_query

KEY_ID, SECRET, ACCOUNT = "AKIDEXAMPLE1", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "444455556666"
PRINCIPAL = "arn:aws:iam::444455556666:user/ops/alice"
HOST = "127.0.0.1:4599"


def store() -> CredentialStore:
    return CredentialStore(parse_credentials({"credentials": [
        {"access_key_id": KEY_ID, "secret_access_key": SECRET, "account_id": ACCOUNT, "principal": PRINCIPAL},
        {"access_key_id": "111122223333", "secret_access_key": "other", "account_id": "777788889999"},
    ]}))


class Signed:
    """A request signed by botocore, as the server would see it: method, raw target, headers, body."""

    def __init__(self, url: str = f"http://{HOST}/", body: bytes = b'{"KeyId":"alias/x"}', *,
                 headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                 secret: str = SECRET, key_id: str = KEY_ID, service: str = "kms", region: str = "eu-west-1",
                 when: datetime | None = None) -> None:
        request = AWSRequest(method="POST", url=url, data=body, params=params,
                             headers={"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "TrentService.DescribeKey", **(headers or {})})
        signer = SigV4Auth(Credentials(key_id, secret), service, region)
        if when is None:
            signer.add_auth(request)
        else:  # botocore's signer with a chosen request time (add_auth always takes the current one)
            timestamp = when.strftime("%Y%m%dT%H%M%SZ")
            request.context["timestamp"] = timestamp
            request.headers["X-Amz-Date"] = timestamp
            signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
            signer._inject_signature_to_request(request, signature)
        prepared = request.prepare()
        parts = urlsplit(prepared.url)
        self.raw_path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.headers: CIMultiDict[str] = CIMultiDict(prepared.headers.items())
        self.headers.setdefault("Host", parts.netloc)  # what the HTTP client adds
        self.body = prepared.body or b""

    def verify(self, verifier: SigV4Verifier | None = None, signing_name: str | None = "kms") -> Any:
        return (verifier or SigV4Verifier(store())).verify("POST", self.raw_path, self.headers, self.body,
                                                           signing_name)


def test_a_request_signed_by_botocore_verifies_as_its_credential() -> None:
    caller = Signed().verify()
    assert caller.credential.access_key_id == KEY_ID
    assert caller.credential.account_id == ACCOUNT
    assert caller.credential.principal == PRINCIPAL
    assert caller.region == "eu-west-1"


def test_an_authorization_header_spelled_otherwise_verifies_too() -> None:
    signed = Signed()
    header = signed.headers["Authorization"]
    signed.headers["Authorization"] = header.replace(", ", " ,\t ").replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256   ")
    signed.verify()
    parts = header.removeprefix("AWS4-HMAC-SHA256 ").split(", ")
    signed.headers["Authorization"] = "AWS4-HMAC-SHA256 " + ",".join(reversed(parts))
    signed.verify()


def test_the_account_is_the_credentials_not_the_access_key_digits() -> None:
    caller = Signed(key_id="111122223333", secret="other").verify()
    assert caller.credential.account_id == "777788889999"
    assert caller.credential.principal == "arn:aws:iam::777788889999:root"


@pytest.mark.parametrize("value", ["  spaced   out   value  ", "a\tb", "x  ,  y"])
def test_header_values_with_extra_spaces_verify(value: str) -> None:
    Signed(headers={"X-Custom": value}).verify()


@pytest.mark.parametrize("url", [
    f"http://{HOST}/?b=2&a=1&a=0",
    f"http://{HOST}/path/to/../x//y/./z?Action=List&Version=2014-11-01",
    f"http://{HOST}/a%20b/c?x=a%2Fb&y=%7E",
    f"http://{HOST}/?flag&empty=",
])
def test_paths_and_query_strings_in_the_url_verify(url: str) -> None:
    Signed(url).verify()


@pytest.mark.parametrize("params", [
    {"b": "2", "a": "1"},
    {"key": "a b+c/d", "z": "é", "~t-_.": "~"},
])
def test_query_parameters_encoded_by_botocore_verify(params: dict[str, str]) -> None:
    Signed(params=params).verify()


def test_an_empty_body_and_a_declared_payload_hash_verify() -> None:
    Signed(body=b"").verify()
    body = b'{"a":1}'
    import hashlib

    Signed(body=body, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}).verify()


def test_a_request_dated_by_the_date_header_verifies() -> None:
    signed = Signed(headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})  # botocore then dates it by Date alone
    assert "X-Amz-Date" not in signed.headers
    signed.verify()


def test_the_query_string_is_canonicalized_as_aws_does() -> None:
    assert canonical_query("b=2&a=1&a=0") == "a=0&a=1&b=2"
    assert canonical_query("k=a+b&j=%2f&i=~x") == "i=~x&j=%2F&k=a%20b"
    assert canonical_query("flag") == "flag="
    assert canonical_query("") == ""


def test_a_wrong_secret_does_not_verify() -> None:
    with pytest.raises(InvalidSignatureException) as raised:
        Signed(secret="not-the-secret").verify()
    assert raised.value.message == SIGNATURE_MISMATCH
    assert raised.value.status == 400


@pytest.mark.parametrize("change", ["body", "header", "path", "query", "method-target"])
def test_a_changed_request_does_not_verify(change: str) -> None:
    signed = Signed(f"http://{HOST}/?a=1", headers={"X-Custom": "v"})
    if change == "body":
        signed.body = signed.body.replace(b"alias/x", b"alias/y")
    elif change == "header":
        signed.headers["X-Custom"] = "w"
    elif change == "path":
        signed.raw_path = "/other?a=1"
    elif change == "query":
        signed.raw_path = "/?a=2"
    else:
        signed.headers["X-Amz-Target"] = "TrentService.ScheduleKeyDeletion"
    with pytest.raises(InvalidSignatureException, match="does not match"):
        signed.verify()


def test_a_declared_payload_hash_that_is_not_the_bodys_does_not_verify() -> None:
    signed = Signed(headers={"X-Amz-Content-SHA256": "0" * 64})
    with pytest.raises(InvalidSignatureException, match="does not match"):
        signed.verify()


def test_an_unknown_access_key_is_unrecognized() -> None:
    with pytest.raises(UnrecognizedClientException) as raised:
        Signed(key_id="AKIDNOBODY").verify()
    assert raised.value.message == "The security token included in the request is invalid."


def test_a_session_token_is_unrecognized() -> None:
    signed = Signed()
    signed.headers["X-Amz-Security-Token"] = "token"
    with pytest.raises(UnrecognizedClientException):
        signed.verify()


def test_no_authorization_header_is_a_missing_token() -> None:
    signed = Signed()
    del signed.headers["Authorization"]
    with pytest.raises(MissingAuthenticationTokenException) as raised:
        signed.verify()
    assert raised.value.message == "Missing Authentication Token"


@pytest.mark.parametrize(("authorization", "says"), [
    ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE1/20250101/us-east-1/kms/aws4_request",
     "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."),
    ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE1 /20250101/us-east-1/kms/aws4_request, SignedHeaders=host, "
     "Signature=00", "'/20250101/us-east-1/kms/aws4_request' not a valid key=value pair (missing equal-sign)"),
    ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE1/20250101/us-east-1, SignedHeaders=host, Signature=00",
     "Credential must have exactly 5 slash-delimited elements"),
    ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE1/20250101/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, "
     "Signature=00", "'Host' or ':authority' must be a 'SignedHeader'"),
    ("Bearer abc.def", "'abc.def' not a valid key=value pair"),
    ("eyJhbGciOi", "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
     "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=eyJhbGciOi"),
    ("AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE1/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, "
     "Signature=00", "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."),
])
def test_a_malformed_authorization_header_is_an_incomplete_signature(authorization: str, says: str) -> None:
    signed = Signed()
    signed.headers["Authorization"] = authorization
    with pytest.raises(IncompleteSignatureException) as raised:
        signed.verify()
    assert says in raised.value.message


def test_a_request_without_a_date_is_an_incomplete_signature() -> None:
    signed = Signed()
    del signed.headers["X-Amz-Date"]
    with pytest.raises(IncompleteSignatureException, match="existence of either a 'X-Amz-Date' or a 'Date' header"):
        signed.verify()
    signed.headers["X-Amz-Date"] = "2025-01-01T00:00:00Z"
    with pytest.raises(IncompleteSignatureException, match="Date must be in ISO-8601 'basic format'"):
        signed.verify()


def test_a_signature_older_than_five_minutes_has_expired() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    verifier = SigV4Verifier(store(), now=now.timestamp)
    Signed(when=now - timedelta(minutes=4, seconds=59)).verify(verifier)
    with pytest.raises(InvalidSignatureException) as raised:
        Signed(when=now - timedelta(minutes=6)).verify(verifier)
    assert raised.value.message == ("Signature expired: 20260301T115400Z is now earlier than 20260301T115500Z "
                                    "(20260301T120000Z - 5 min.)")


def test_a_signature_more_than_five_minutes_ahead_is_not_yet_current() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    verifier = SigV4Verifier(store(), now=now.timestamp)
    Signed(when=now + timedelta(minutes=4)).verify(verifier)
    with pytest.raises(InvalidSignatureException) as raised:
        Signed(when=now + timedelta(minutes=7)).verify(verifier)
    assert raised.value.message == ("Signature not yet current: 20260301T120700Z is still later than 20260301T120500Z "
                                    "(20260301T120000Z + 5 min.)")


def test_the_credential_scope_must_name_the_service_of_the_target() -> None:
    with pytest.raises(InvalidSignatureException) as raised:
        Signed(service="cloudhsm").verify(signing_name="kms")
    assert raised.value.message == "Credential should be scoped to correct service: 'kms'. "


def test_the_scope_date_must_be_the_request_date() -> None:
    signed = Signed()
    date = signed.headers["X-Amz-Date"]
    other = (datetime.strptime(date[:8], "%Y%m%d") - timedelta(days=1)).strftime("%Y%m%d")
    signed.headers["Authorization"] = signed.headers["Authorization"].replace(f"/{date[:8]}/", f"/{other}/")
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope does not match"):
        signed.verify()


def test_undecodable_header_bytes_are_an_aws_error() -> None:
    signed = Signed()
    # aiohttp hands over bytes that are not UTF-8 as surrogate escapes
    signed.headers["Authorization"] = signed.headers["Authorization"].replace("Credential=", "Credential=\udcff")
    with pytest.raises(UnrecognizedClientException):
        signed.verify()
    signed.headers["Authorization"] = signed.headers["Authorization"][:-3] + "\udcff\udcfe"
    with pytest.raises(UnrecognizedClientException):
        signed.verify()
    signed = Signed()
    signed.headers["Authorization"] = signed.headers["Authorization"][:-3] + "\udcff\udcfe"
    with pytest.raises(InvalidSignatureException):
        signed.verify()
    signed = Signed()
    signed.headers["X-Amz-Date"] = "2025\udcff"
    with pytest.raises(IncompleteSignatureException) as raised:
        signed.verify()
    assert "\\xff" in raised.value.message


def test_the_signing_key_is_cached_per_secret_date_region_and_service() -> None:
    verifier = SigV4Verifier(store())
    Signed().verify(verifier)
    Signed().verify(verifier)
    Signed(region="us-west-2").verify(verifier)
    assert len(verifier._keys) == 2


# -- the credentials file ----------------------------------------------------------------------------------------


def test_a_credentials_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"credentials": [
        {"access_key_id": KEY_ID, "secret_access_key": SECRET, "account_id": ACCOUNT},
        {"access_key_id": "AKIDROLE", "secret_access_key": "x", "account_id": ACCOUNT,
         "principal": "arn:aws:iam::444455556666:role/Admin"},
    ]}))
    loaded = load_credentials(path)
    assert sorted(loaded) == ["AKIDEXAMPLE1", "AKIDROLE"]
    assert loaded[KEY_ID].principal == "arn:aws:iam::444455556666:root"
    assert loaded["AKIDROLE"].principal == "arn:aws:iam::444455556666:role/Admin"
    assert SECRET not in repr(loaded[KEY_ID]) and SECRET not in repr(loaded)


GOOD = {"access_key_id": "AKID1", "secret_access_key": "s", "account_id": "111122223333"}


@pytest.mark.parametrize(("document", "says"), [
    ([], "the top level must be an object"),
    ({"credentials": []}, "'credentials' is empty"),
    ({"credentials": {}}, "'credentials' must be a list"),
    ({"credentials": [GOOD], "extra": 1}, "unknown top-level member 'extra'"),
    ({"credentials": ["x"]}, "credentials[0] must be an object"),
    ({"credentials": [{**GOOD, "secret_acess_key": "s"}]}, "credentials[0]: unknown member 'secret_acess_key'"),
    ({"credentials": [{k: v for k, v in GOOD.items() if k != "secret_access_key"}]},
     "credentials[0]: 'secret_access_key' is missing"),
    ({"credentials": [{**GOOD, "account_id": 111122223333}]}, "'account_id' must be a string"),
    ({"credentials": [{**GOOD, "account_id": "1234"}]}, "account_id '1234' must be 12 digits"),
    ({"credentials": [{**GOOD, "access_key_id": "AK/ID"}]}, "access_key_id 'AK/ID' must be"),
    ({"credentials": [{**GOOD, "secret_access_key": ""}]}, "secret_access_key must be non-empty"),
    ({"credentials": [GOOD, {**GOOD, "secret_access_key": "t"}]},
     "credentials[1]: access_key_id 'AKID1' is already used by credentials[0]"),
    ({"credentials": [{**GOOD, "principal": "alice"}]}, "principal 'alice' is not an IAM user or role ARN"),
    ({"credentials": [{**GOOD, "principal": "arn:aws:iam::999999999999:user/alice"}]},
     "is not of account 111122223333"),
])
def test_a_bad_credentials_document_names_the_problem(document: Any, says: str) -> None:
    with pytest.raises(CredentialsFileError) as raised:
        parse_credentials(document, "f.json")
    assert says in str(raised.value)
    assert str(raised.value).startswith("credentials file f.json: ")


def test_a_bad_secret_is_never_echoed() -> None:
    with pytest.raises(CredentialsFileError) as raised:
        parse_credentials({"credentials": [{**GOOD, "secret_access_key": " top-secret-value "}]})
    assert "top-secret-value" not in str(raised.value)


def test_unreadable_credentials_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(CredentialsFileError, match="no such file"):
        load_credentials(tmp_path / "absent.json")
    with pytest.raises(CredentialsFileError, match="is a directory"):
        load_credentials(tmp_path)
    (tmp_path / "bad.json").write_text('{"credentials": [')
    with pytest.raises(CredentialsFileError, match="not JSON"):
        load_credentials(tmp_path / "bad.json")
    (tmp_path / "latin.json").write_bytes(b'{"credentials": "\xff"}')
    with pytest.raises(CredentialsFileError, match="not UTF-8"):
        load_credentials(tmp_path / "latin.json")
