"""The symmetric ciphertext blob format (pure code): header round trip, AAD binding, tamper detection."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms.crypto.ciphertext import (
    OVERHEAD,
    MalformedCiphertext,
    canonical_context,
    open_blob,
    read_header,
    seal,
)

ACCOUNT = "111122223333"
KEY_IDS = ["1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-" + "ab" * 16]


@pytest.mark.parametrize("key_id", KEY_IDS)
def test_header_names_account_key_and_material(key_id: str) -> None:
    material_id = os.urandom(32).hex()
    blob = seal(AESGCM(os.urandom(32)), ACCOUNT, key_id, material_id, b"data", None)
    header = read_header(blob)
    assert (header.account_id, header.key_id, header.material_id) == (ACCOUNT, key_id, material_id)
    assert len(blob) == OVERHEAD + 4


def test_context_order_does_not_matter_but_every_pair_does() -> None:
    aead = AESGCM(os.urandom(32))
    blob = seal(aead, ACCOUNT, KEY_IDS[0], "00" * 32, b"data", {"b": "2", "a": "1"})
    assert open_blob(aead, blob, {"a": "1", "b": "2"}) == b"data"
    for wrong in (None, {"a": "1"}, {"a": "1", "b": "2", "c": "3"}, {"A": "1", "b": "2"}):
        with pytest.raises(MalformedCiphertext):
            open_blob(aead, blob, wrong)
    assert canonical_context({"b": "2", "a": "1"}) == canonical_context({"a": "1", "b": "2"})


def test_every_flipped_byte_is_detected() -> None:
    aead = AESGCM(os.urandom(32))
    blob = seal(aead, ACCOUNT, KEY_IDS[1], "11" * 32, b"payload", None)
    for index in range(len(blob)):
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(MalformedCiphertext):
            read_header(bytes(tampered))  # a changed version or id kind is caught here already
            open_blob(aead, bytes(tampered), None)


@pytest.mark.parametrize("blob", [b"", b"\x01" * 10, os.urandom(OVERHEAD + 20), b"\x02" + b"\x00" * OVERHEAD])
def test_random_or_short_bytes_are_not_blobs(blob: bytes) -> None:
    aead = AESGCM(os.urandom(32))
    with pytest.raises(MalformedCiphertext):
        read_header(blob)
        open_blob(aead, blob, None)
