"""
Who is calling, read from the SigV4 ``Authorization`` header.

A SigV4 header looks like::

    AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-west-2/cloudhsm/aws4_request,
        SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=5d67...

The credential scope (``<access key id>/<date>/<region>/<signing name>/aws4_request``) gives the region and
the signing name. The account is derived the way LocalStack does it: an access key id of exactly twelve
digits *is* the account id, so a test can act as account ``111122223333`` by using that as its access key;
any other key (or no ``Authorization`` header at all) maps to the default account.

Signatures are **not verified**: the simulator has no secret keys to check them against, and the point is to
exercise client code, not IAM. Requests without a header, or with a header that cannot be parsed (a credential
scope that is not printable ASCII included), are served in the default account and region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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


def _is_account_id(value: str) -> bool:
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
    if access_key_id is not None and _is_account_id(access_key_id):
        account_id = access_key_id
    else:
        account_id = default_account
    return CallerScope(access_key_id, account_id, region, signing_name)
