"""AWS-shaped identifiers."""

from __future__ import annotations

import secrets

_BASE32_LOWER = "abcdefghijklmnopqrstuvwxyz234567"


def base32_id(prefix: str, length: int = 11) -> str:
    """``prefix-`` followed by ``length`` characters of ``[a-z2-7]``, as CloudHSM ids are (``cluster-igklspoyj5v``)."""
    return f"{prefix}-" + "".join(secrets.choice(_BASE32_LOWER) for _ in range(length))


def hex_id(prefix: str, length: int = 17) -> str:
    """``prefix-`` followed by ``length`` lower-case hex digits (``eni-…``, ``sg-…``)."""
    return f"{prefix}-" + secrets.token_hex((length + 1) // 2)[:length]


def request_id() -> str:
    """A request id in the UUID shape AWS uses for ``x-amzn-RequestId``."""
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
