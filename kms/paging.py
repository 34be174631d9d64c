"""``Limit`` / ``Marker`` / ``Truncated`` / ``NextMarker`` as every KMS list operation has them.

Markers are opaque to callers: base64url of the position to continue after. A marker this server did not hand out
is ``InvalidMarkerException``. https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from kms.errors import InvalidMarkerException

DEFAULT_LIMIT = 100
T = TypeVar("T")


def encode_marker(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def decode_marker(marker: str | None) -> Any:
    """The position a marker stands for (``None`` without a marker)."""
    if marker is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(marker.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidMarkerException("The marker is invalid.") from None


def page_of(items: Sequence[T], limit: int | None, marker: str | None) -> tuple[list[T], dict[str, Any]]:
    """Page an in-memory list (positions are indexes): the page and the ``Truncated``/``NextMarker`` members."""
    start = decode_marker(marker) or 0
    if not isinstance(start, int) or start < 0 or start > len(items):
        raise InvalidMarkerException("The marker is invalid.")
    end = start + (limit or DEFAULT_LIMIT)
    page = list(items[start:end])
    if end < len(items):
        return page, {"Truncated": True, "NextMarker": encode_marker(end)}
    return page, {"Truncated": False}
