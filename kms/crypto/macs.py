"""HMAC for KMS's GENERATE_VERIFY_MAC keys (RFC 2104 with the SHA-2 hash the algorithm names).

https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html
"""

from __future__ import annotations

import hashlib
import hmac

from kms.enums import MacAlgorithm

_HASHES = {
    MacAlgorithm.HMAC_SHA_224: hashlib.sha224,
    MacAlgorithm.HMAC_SHA_256: hashlib.sha256,
    MacAlgorithm.HMAC_SHA_384: hashlib.sha384,
    MacAlgorithm.HMAC_SHA_512: hashlib.sha512,
}


def compute_mac(key: bytes, algorithm: MacAlgorithm, message: bytes) -> bytes:
    return hmac.new(key, message, _HASHES[algorithm]).digest()


def mac_matches(key: bytes, algorithm: MacAlgorithm, message: bytes, mac: bytes) -> bool:
    """Constant-time comparison of ``mac`` with the HMAC of ``message``."""
    return hmac.compare_digest(compute_mac(key, algorithm, message), mac)
