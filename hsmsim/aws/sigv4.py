"""
Who is calling, read from the SigV4 ``Authorization`` header, and (with ``hsmsim serve --credentials``) whether the
signature is right.

A SigV4 header looks like::

    AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-west-2/cloudhsm/aws4_request,
        SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=5d67...

The credential scope (``<access key id>/<date>/<region>/<signing name>/aws4_request``) gives the region and
the signing name.

**Without a credentials file** (the default) signatures are not verified: :func:`caller_scope` derives the account
the way LocalStack does it (an access key id of exactly twelve digits *is* the account id, so a test can act as
account ``111122223333`` by using that as its access key; any other key, or no ``Authorization`` header at all, maps
to the default account). Requests without a header, or with a header that cannot be parsed (a credential scope
that is not printable ASCII included), are served in the default account and region.

**With a credentials file** :class:`SigV4Verifier` checks every AWS request the way AWS does, following the IAM User
Guide's "AWS Signature Version 4 for API requests" pages ("Elements of an AWS API request signature", "Create a
signed AWS API request") with botocore's signer (``botocore.auth.SigV4Auth``) as the reference for the exact
canonical form: the canonical request (method; the path with dot segments and repeated slashes removed, URI-encoded
once more; the query string; the signed headers, lower-cased, values trimmed with inner runs of spaces collapsed,
repeated headers joined with commas; the signed header list; the payload hash: ``X-Amz-Content-SHA256`` if sent, else
the SHA-256 of the body), the string to sign, the signing key derived from the secret through date, region and
service (cached), and a constant-time compare. The request time (``X-Amz-Date``, else ``Date``) must be within 5
minutes of the real clock (the simulated clock plays no part). The account of a verified request is the credential's
``account_id`` and its principal the credential's ``principal``.

Failures are AWS's errors (see :mod:`hsmsim.aws.errors`): no header -> ``MissingAuthenticationTokenException``; a
malformed header -> ``IncompleteSignatureException`` naming what is missing; an unknown access key (or a session
token, which no credential has) -> ``UnrecognizedClientException``; a wrong scope, an expired or not yet current
time, a payload hash that is not the body's, or a wrong signature -> ``InvalidSignatureException``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import quote, unquote_plus

from botocore.utils import normalize_url_path

from hsmsim.aws.credentials import Credential, CredentialStore
from hsmsim.aws.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


@dataclass(frozen=True, slots=True)
class CallerScope:
    """
    :ivar access_key_id: the access key id from the credential scope, or ``None`` without a usable header.
    :ivar account_id: the account the request acts in.
    :ivar region: the region from the credential scope, or the default region.
    :ivar signing_name: the signing name from the scope (``"kms"``, ``"cloudhsm"``), or ``None``.
    """

    access_key_id: str | None
    account_id: str
    region: str
    signing_name: str | None


def _header(headers: Mapping[str, str] | Mapping[str, bytes], name: str) -> str | None:
    """
    Case-insensitive header lookup that works for plain dicts as well as aiohttp's ``CIMultiDict``.

    Values may be ``bytes`` (botocore's prepared requests hold them so); they are decoded as Latin-1, the
    HTTP header charset.
    """
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((candidate for key, candidate in headers.items() if key.lower() == lowered), None)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def is_account_id(value: str) -> bool:
    """Exactly twelve ASCII digits (what AWS calls an account id)."""
    return len(value) == 12 and value.isascii() and value.isdigit()


def caller_scope(
    headers: Mapping[str, str] | Mapping[str, bytes],
    default_region: str = "us-east-1",
    default_account: str = "000000000000",
) -> CallerScope:
    """
    Return the account, region and signing name a request was signed for.

    :param headers: the request headers (any mapping; the lookup is case-insensitive, values may be
        ``str`` or ``bytes``).
    :param default_region: the region used when the header carries none.
    :param default_account: the account used unless the access key id is a 12-digit account id.
    """
    authorization = _header(headers, "Authorization")
    if not authorization or not authorization.startswith("AWS4-"):
        return CallerScope(None, default_account, default_region, None)
    match = _CREDENTIAL.search(authorization)
    if match is None or not match.group(1).isascii() or not match.group(1).isprintable():
        # A credential scope is ASCII (aiohttp hands undecodable header bytes over as surrogates): unusable.
        return CallerScope(None, default_account, default_region, None)
    parts = match.group(1).split("/")
    access_key_id = parts[0] or None
    region = parts[2] if len(parts) >= 3 and parts[2] else default_region
    signing_name = parts[3] if len(parts) >= 4 and parts[3] else None
    if access_key_id is not None and is_account_id(access_key_id):
        account_id = access_key_id
    else:
        account_id = default_account
    return CallerScope(access_key_id, account_id, region, signing_name)


# -- verification ----------------------------------------------------------------------------------------------

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=5)
MAX_SKEW_S = int(MAX_SKEW.total_seconds())
SIGNING_KEY_CACHE_SIZE = 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

MISSING_TOKEN = "Missing Authentication Token"
UNRECOGNIZED_CLIENT = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                      "Secret Access Key and signing method. Consult the service documentation for details.")
_BASIC = "%Y%m%dT%H%M%SZ"
_BASIC_FORMAT = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_REGION = re.compile(r"[a-z0-9-]{1,64}")
_SEPARATORS = re.compile(r"[\s,]+")
_WELL_FORMED = re.compile(r"AWS4-HMAC-SHA256 Credential=([A-Za-z0-9_.+\-]+)/([0-9]{8})/([a-z0-9-]+)/([a-z0-9-]+)/"
                          r"aws4_request, ?SignedHeaders=([a-z0-9;\-]+), ?Signature=([0-9a-f]{64})")


class Headers(Protocol):
    """What the verifier needs of the request headers: aiohttp's ``CIMultiDictProxy`` (case-insensitive, every
    value of a repeated header)."""

    def getall(self, key: str, default: list[str]) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    """A request whose signature checked out: who signed it and for which region."""

    credential: Credential
    region: str


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def _wire(text: str) -> bytes:
    """The bytes a header or path arrived as: aiohttp decodes them as UTF-8 with ``surrogateescape``."""
    return text.encode("utf-8", "surrogateescape")


def _printable(text: str) -> str:
    """*text* safe to echo in a message: bytes that were not UTF-8 become ``\\xNN``."""
    return _wire(text).decode("utf-8", "backslashreplace")


def _parse_authorization(header: str, amz_date: str | None) -> _Authorization:
    """Split the header as AWS does; :class:`IncompleteSignatureException` says what is malformed or missing."""
    algorithm, space, rest = header.strip().partition(" ")
    if not space:  # a bare token (no scheme, no parameters): AWS lists what a SigV4 header requires
        algorithm, rest = "", ""
    params: dict[str, str] = {}
    for item in _SEPARATORS.split(rest):  # AWS splits the parameters at commas and white space
        if not item:
            continue
        key, equal, value = item.partition("=")
        if not equal:
            raise IncompleteSignatureException(
                f"'{_printable(item)}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{_printable(header)}'.")
        params[key.strip()] = value.strip()
    missing = [f"Authorization header requires '{name}' parameter." for name in ("Credential", "Signature",
               "SignedHeaders") if not params.get(name)]
    if amz_date is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if algorithm != ALGORITHM and not missing:
        missing.append(f"Unsupported AWS 'algorithm': '{_printable(algorithm)}'.")
    if missing:
        raise IncompleteSignatureException(" ".join(missing) + f" Authorization={_printable(header)}")
    credential = params["Credential"]
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got "
            f"'{_printable(credential)}'")
    signed = tuple(name.strip().lower() for name in params["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise IncompleteSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return _Authorization(parts[0], parts[1], parts[2], parts[3], parts[4], signed, params["Signature"])


def _request_time(headers: Headers) -> tuple[str, datetime] | None:
    """``(timestamp in ISO 8601 basic format, as a datetime)`` from ``X-Amz-Date``, else ``Date``; None if neither
    header is there; :class:`IncompleteSignatureException` if the one given cannot be read."""
    amz_date = headers.getall("X-Amz-Date", [])
    if amz_date:
        text = amz_date[0].strip()
        if _BASIC_FORMAT.fullmatch(text):
            try:  # (strptime takes longer than the rest of the verification together)
                return text, datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]),
                                      int(text[11:13]), int(text[13:15]), tzinfo=UTC)
            except ValueError:
                pass  # 8 and 6 digits, but no calendar date (month 13): the message below
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{_printable(text)}'. See "
            "http://en.wikipedia.org/wiki/ISO_8601")
    date = headers.getall("Date", [])
    if date:
        try:
            when = parsedate_to_datetime(date[0]).astimezone(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise IncompleteSignatureException(
                f"Date must be in ISO-8601 'basic format' or RFC 1123. Got '{_printable(date[0])}'.") from None
        return when.strftime(_BASIC), when
    return None


def canonical_query(query: str) -> str:
    """The query string as AWS canonicalizes it: every name and value decoded and URI-encoded again (RFC 3986
    unreserved characters left as they are), the pairs sorted by name, then value."""
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((quote(_wire(unquote_plus(key, errors="surrogateescape")), safe="-_.~"),
                      quote(_wire(unquote_plus(value, errors="surrogateescape")), safe="-_.~")))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _verbatim_query(query: str) -> str:
    """The query string as botocore signs one that is part of the URL: pairs sorted, not re-encoded."""
    if not query:
        return ""
    return "&".join(f"{key}={value}" for key, value in sorted(pair.partition("=")[::2] for pair in query.split("&")))


def canonical_headers(headers: Headers, signed: Sequence[str]) -> str:
    """``name:value`` lines of the signed headers: values trimmed, inner runs of white space made one space,
    the values of a repeated header joined with commas."""
    lines = []
    for name in signed:
        values = headers.getall(name, [])
        if len(values) == 1:
            lines.append(f"{name}:{' '.join(values[0].split())}\n")
        else:
            lines.append(f"{name}:" + ",".join(" ".join(value.split()) for value in values) + "\n")
    return "".join(lines)


def canonical_request(method: str, raw_path: str, query: str, headers: Headers, signed: Sequence[str],
                      payload_hash: str) -> bytes:
    """The canonical request (bytes: header values are taken as the bytes that arrived)."""
    path = "/" if raw_path == "/" else quote(_wire(normalize_url_path(raw_path)), safe="/~")
    text = "\n".join([method.upper(), path, query, canonical_headers(headers, signed), ";".join(signed), payload_hash])
    return _wire(text)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key: HMAC-SHA256 chained from ``"AWS4" + secret`` through date, region, service and
    ``aws4_request``."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, _wire(part), hashlib.sha256).digest()
    return key


def _fmt(when: datetime) -> str:
    return when.strftime(_BASIC)


class SigV4Verifier:
    """
    Checks AWS requests against a :class:`~hsmsim.aws.credentials.CredentialStore`.

    :param credentials: the access keys that exist.
    :param now: the real clock (seconds since the epoch); the simulated clock plays no part.
    """

    def __init__(self, credentials: CredentialStore, now: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        self._now = now
        self._keys: dict[tuple[str, str, str, str], bytes] = {}
        self._epochs: dict[str, int] = {}  # X-Amz-Date -> seconds since the epoch (clients sign many per second)

    def _signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (secret, date, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= SIGNING_KEY_CACHE_SIZE:
                self._keys.clear()
            key = self._keys[cache_key] = signing_key(secret, date, region, service)
        return key

    def verify(self, method: str, raw_path: str, headers: Headers, body: bytes,
               signing_name: str | None) -> VerifiedCaller:
        """
        Verify one request.

        :param method: the HTTP method.
        :param raw_path: the request target as it arrived (path and query string, not decoded).
        :param headers: the request headers.
        :param body: the request body.
        :param signing_name: the SigV4 signing name of the service the target routes to (``"kms"``,
            ``"cloudhsm"``), or ``None`` if the target is unknown (the service in the scope is then not checked).
        :raises ServiceError: one of the four authentication errors of :mod:`hsmsim.aws.errors`.
        """
        parsed = self._well_formed(headers)
        if parsed is None:  # anything else: the general parser, which says what is wrong
            parsed = self._parse(headers)
        auth, timestamp, epoch = parsed
        self._check_scope(auth, timestamp, signing_name)
        now = int(self._now())
        if not now - MAX_SKEW_S <= epoch <= now + MAX_SKEW_S:
            raise _time_error(timestamp, epoch, now)
        credential = self.credentials.get(auth.access_key_id)
        if credential is None or "X-Amz-Security-Token" in headers:
            raise UnrecognizedClientException(UNRECOGNIZED_CLIENT)
        payload_hash = hashlib.sha256(body).hexdigest()
        declared = headers.getall("X-Amz-Content-SHA256", ())
        if declared and declared[0] != payload_hash:  # signed over a hash that is not the body's: body changed
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        key = self._signing_key(credential.secret_access_key, auth.date, auth.region, auth.service)
        prefix = f"{ALGORITHM}\n{timestamp}\n{auth.date}/{auth.region}/{auth.service}/{TERMINATOR}\n".encode()
        given = _wire(auth.signature)
        path, _, query = raw_path.partition("?")
        queries = [canonical_query(query)]
        if query and _verbatim_query(query) != queries[0]:
            queries.append(_verbatim_query(query))  # botocore signs a query that is part of the URL as it is
        for canonical_qs in queries:
            canonical = canonical_request(method, path, canonical_qs, headers, auth.signed_headers, payload_hash)
            to_sign = prefix + hashlib.sha256(canonical).hexdigest().encode()
            if hmac.compare_digest(hmac.digest(key, to_sign, "sha256").hex().encode(), given):
                return VerifiedCaller(credential, auth.region)
        raise InvalidSignatureException(SIGNATURE_MISMATCH)

    def _well_formed(self, headers: Headers) -> tuple[_Authorization, str, int] | None:
        """The SDKs' own spelling (one Authorization header as botocore writes it, one ``X-Amz-Date``), read by one
        regular expression; ``None`` for anything else."""
        values = headers.getall("Authorization", ())
        dates = headers.getall("X-Amz-Date", ())
        if len(values) != 1 or len(dates) != 1:
            return None
        match = _WELL_FORMED.fullmatch(values[0])
        if match is None:
            return None
        timestamp = dates[0]
        epoch = self._epochs.get(timestamp)
        if epoch is None:
            epoch = _epoch(timestamp)
            if epoch is None:
                return None
            if len(self._epochs) >= SIGNING_KEY_CACHE_SIZE:
                self._epochs.clear()
            self._epochs[timestamp] = epoch
        key_id, date, region, service, signed_text, signature = match.groups()
        signed = tuple(signed_text.split(";"))
        if "host" not in signed:
            return None
        return _Authorization(key_id, date, region, service, TERMINATOR, signed, signature), timestamp, epoch

    @staticmethod
    def _parse(headers: Headers) -> tuple[_Authorization, str, int]:
        values = [value for value in headers.getall("Authorization", []) if value.strip()]
        if not values:
            raise MissingAuthenticationTokenException(MISSING_TOKEN)
        if len(values) > 1:
            raise IncompleteSignatureException("The request carries more than one Authorization header.")
        request_time = _request_time(headers)
        auth = _parse_authorization(values[0], None if request_time is None else request_time[0])
        assert request_time is not None  # _parse_authorization raised otherwise
        timestamp, signed_at = request_time
        return auth, timestamp, int(signed_at.timestamp())

    @staticmethod
    def _check_scope(auth: _Authorization, timestamp: str, signing_name: str | None) -> None:
        if auth.terminator != TERMINATOR:
            raise InvalidSignatureException(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not "
                f"'{_printable(auth.terminator)}'.")
        if signing_name is not None and auth.service != signing_name:
            raise InvalidSignatureException(f"Credential should be scoped to correct service: '{signing_name}'. ")
        if not _REGION.fullmatch(auth.region):
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{_printable(auth.region)}'. ")
        if auth.date != timestamp[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{_printable(auth.date)}' != '{timestamp[:8]}', from '{timestamp}'.")


def _epoch(timestamp: str) -> int | None:
    """Seconds since the epoch of an ISO 8601 basic timestamp (``20260301T120000Z``); None if it is not one."""
    if not _BASIC_FORMAT.fullmatch(timestamp):
        return None
    try:  # (strptime takes longer than the rest of the verification together)
        return int(datetime(int(timestamp[0:4]), int(timestamp[4:6]), int(timestamp[6:8]), int(timestamp[9:11]),
                            int(timestamp[11:13]), int(timestamp[13:15]), tzinfo=UTC).timestamp())
    except ValueError:  # 8 and 6 digits, but no calendar date (month 13)
        return None


def _time_error(timestamp: str, epoch: int, now_epoch: int) -> InvalidSignatureException:
    """AWS's message for a request time more than 5 minutes from now (on the real clock)."""
    now = datetime.fromtimestamp(now_epoch, UTC)
    if epoch < now_epoch:
        return InvalidSignatureException(
            f"Signature expired: {timestamp} is now earlier than {_fmt(now - MAX_SKEW)} ({_fmt(now)} - 5 min.)")
    return InvalidSignatureException(
        f"Signature not yet current: {timestamp} is still later than {_fmt(now + MAX_SKEW)} ({_fmt(now)} + 5 min.)")
