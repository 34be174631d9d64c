"""Grant tokens: opaque bearer strings that name a grant and that only this server can have issued.

A token is ``base64url(version | nonce | grant id | HMAC-SHA256(server secret, nonce | grant id)[:16])``: the
random nonce makes every CreateGrant return a new token, even for the same grant (as AWS documents for the
``Name`` retry case; all tokens of a grant are interchangeable). Checking one needs no
database (the hot path checks ``GrantTokens`` members), and a forged or mangled token is
``InvalidGrantTokenException`` as in AWS. https://docs.aws.amazon.com/kms/latest/developerguide/grant-tokens.html
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from kms.errors import InvalidGrantTokenException

_VERSION = b"\x01"
_TAG_BYTES = 16
_NONCE_BYTES = 16


class GrantTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"kms-grant-tokens", hashlib.sha256).digest()

    def issue(self, grant_id: str) -> str:
        raw = secrets.token_bytes(_NONCE_BYTES) + grant_id.encode()
        tag = hmac.new(self._key, raw, hashlib.sha256).digest()[:_TAG_BYTES]
        return base64.urlsafe_b64encode(_VERSION + raw + tag).decode().rstrip("=")

    def grant_id_of(self, token: str) -> str:
        """The grant a token names; :class:`InvalidGrantTokenException` if this server did not issue it."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidGrantTokenException("The grant token is invalid.") from None
        body, tag = raw[1:-_TAG_BYTES], raw[-_TAG_BYTES:]
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG_BYTES]
        if raw[:1] != _VERSION or len(raw) <= 1 + _NONCE_BYTES + _TAG_BYTES or not hmac.compare_digest(tag, expected):
            raise InvalidGrantTokenException("The grant token is invalid.")
        return body[_NONCE_BYTES:].decode()

    def check(self, tokens: Iterable[str] | None) -> None:
        for token in tokens or ():
            self.grant_id_of(token)
