"""Ed25519ph (RFC 8032 §5.1, HashEdDSA with SHA-512) from a 32-byte private seed, in plain Python integers.

pyca/cryptography only has pure Ed25519, and KMS's ``ED25519_PH_SHA_512`` is Ed25519ph with an empty context
(FIPS 186-5 §7.8.1). The same code also does pure Ed25519 (``prehash=False``), which the tests compare with pyca
to check the curve arithmetic. Not constant-time: the simulator holds test keys, not production secrets.
https://www.rfc-editor.org/rfc/rfc8032#section-5.1
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]
"""Extended homogeneous coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z."""

_DOM2_PREFIX = b"SigEd25519 no Ed25519 collisions"


def _add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


_BY = 4 * pow(5, P - 2, P) % P
_BX = _recover_x(_BY, 0)
assert _BX is not None
BASE: Point = (_BX, _BY, 1, _BX * _BY % P)


def _encode(point: Point) -> bytes:
    z_inv = pow(point[2], P - 2, P)
    x, y = point[0] * z_inv % P, point[1] * z_inv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decode(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return x, y, 1, x * y % P


def _sha512_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def _expand(seed: bytes) -> tuple[int, bytes]:
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def _dom_and_message(message: bytes, prehash: bool, context: bytes) -> tuple[bytes, bytes]:
    if not prehash:
        if context:
            raise ValueError("pure Ed25519 takes no context")
        return b"", message
    if len(context) > 255:
        raise ValueError("the context is at most 255 bytes")
    return _DOM2_PREFIX + bytes([1, len(context)]) + context, hashlib.sha512(message).digest()


def public_key(seed: bytes) -> bytes:
    """The 32-byte encoded public key of ``seed``."""
    a, _ = _expand(seed)
    return _encode(_multiply(a, BASE))


def sign(seed: bytes, message: bytes, *, prehash: bool = True, context: bytes = b"") -> bytes:
    """The 64-byte signature R || S of ``message`` (Ed25519ph hashes it with SHA-512 first)."""
    a, prefix = _expand(seed)
    encoded_a = _encode(_multiply(a, BASE))
    dom, m = _dom_and_message(message, prehash, context)
    r = _sha512_int(dom, prefix, m) % L
    encoded_r = _encode(_multiply(r, BASE))
    k = _sha512_int(dom, encoded_r, encoded_a, m) % L
    s = (r + k * a) % L
    return encoded_r + int.to_bytes(s, 32, "little")


def verify(public: bytes, message: bytes, signature: bytes, *, prehash: bool = True, context: bytes = b"") -> bool:
    """Whether ``signature`` is valid for ``message`` under the 32-byte public key (cofactored check)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    point_a = _decode(public)
    point_r = _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if point_a is None or point_r is None or s >= L:
        return False
    dom, m = _dom_and_message(message, prehash, context)
    k = _sha512_int(dom, signature[:32], public, m) % L
    left = _multiply(8 * s, BASE)
    right = _multiply(8, _add(point_r, _multiply(k, point_a)))
    return _equal(left, right)
