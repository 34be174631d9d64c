"""Assertions shared by the KMS test files."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str, int]:
    """``(code, message, HTTP status)`` of the error ``call`` must raise."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    err = caught.value.response
    return err["Error"]["Code"], err["Error"].get("Message", ""), err["ResponseMetadata"]["HTTPStatusCode"]


def assert_invalid_ciphertext(call: Any, **kwargs: Any) -> None:
    """InvalidCiphertextException carries no message at all (spec/kms-real-responses.md 0.2 item 4)."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    err = caught.value.response
    assert err["Error"]["Code"] == "InvalidCiphertextException"
    assert err["Error"]["Message"] == "" and "message" not in err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
