"""HSM user passwords: stored only as salted scrypt hashes, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

_N, _R, _P = 2**14, 8, 1  # 15-40 ms here: slow enough to hurt guessing (repeated logins: PasswordVerifier)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt${}${}${}${}${}".format(
        _N, _R, _P, base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    )


def verify_password(password: str, stored: str) -> bool:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    candidate = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


class PasswordVerifier:
    """:func:`verify_password` with a memory of recent successes, so that a repeated login is fast.

    scrypt costs 15-40 ms here, far above the few milliseconds an HSM login takes. After a successful check the
    verifier remembers, in memory only, an HMAC of the password under a random per-process key, indexed by the
    stored hash; the next login with the same password matches that HMAC in microseconds. A wrong password never
    matches and always pays the full scrypt cost, so guessing stays slow; a password change gives a new stored
    hash, which forgets the old entry.
    """

    max_entries = 10_000

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._known: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def remember(self, password: str, stored: str) -> None:
        """``stored`` was just made from ``password`` (a password KMS rotated to): its next check is fast."""
        mac = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        with self._lock:
            if len(self._known) >= self.max_entries:
                self._known.clear()
            self._known[stored] = mac

    def verify(self, password: str, stored: str) -> bool:
        mac = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        with self._lock:
            known = self._known.get(stored)
        if known is not None and hmac.compare_digest(known, mac):
            return True
        if not verify_password(password, stored):
            return False
        with self._lock:
            if len(self._known) >= self.max_entries:
                self._known.clear()
            self._known[stored] = mac
        return True
