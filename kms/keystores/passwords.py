"""kmsuser's next passwords, made ahead of the connections that need them.

Every successful ConnectCustomKeyStore rotates kmsuser's password to a random secret only KMS knows
(https://docs.aws.amazon.com/kms/latest/developerguide/keystore-cloudhsm.html#concept-kmsuser, spec 3.3). The
user's row keeps only a salted scrypt hash of it (:mod:`hsmsim.cloudhsm.passwords`), and scrypt costs ~40 ms here:
most of what a connection took. A 190-bit random secret would not need a slow hash, but every password in the
simulator is stored the same way, so the hash stays and moves off the connection's path instead: a daemon thread
keeps :attr:`NextPasswords.AHEAD` (password, hash) pairs ready, and a connection takes one at once. The thread
starts on first use (a server that never connects a store never pays for it) and works while the server waits
for requests (hashlib's scrypt releases the GIL). When none is ready the connection makes its own, as before.

The pairs live in this process's memory only, each is handed out once, and nothing of them is logged.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections import deque
from collections.abc import Callable

from hsmsim.cloudhsm.passwords import hash_password

_ALPHABET = string.ascii_letters + string.digits
ROTATED_PASSWORD_LENGTH = 32
"""The rotated password: 32 random alphanumerics (valid for every kmsuser password rule)."""


def new_pair() -> tuple[str, str]:
    """A fresh random kmsuser password and its stored hash."""
    password = "".join(secrets.choice(_ALPHABET) for _ in range(ROTATED_PASSWORD_LENGTH))
    return password, hash_password(password)


class NextPasswords:
    """(password, scrypt hash) pairs made ahead by a daemon thread; :meth:`take` hands each out once."""

    AHEAD = 2

    def __init__(self, make: Callable[[], tuple[str, str]] = new_pair) -> None:
        self._make = make
        self._ready: deque[tuple[str, str]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def prepare(self) -> None:
        """Start making pairs (idempotent): a store was created, a connection will follow."""
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._fill, name="kmsuser-passwords", daemon=True)
                self._thread.start()

    def take(self) -> tuple[str, str]:
        """A pair never handed out before: a ready one, else one made now."""
        self.prepare()
        with self._cond:
            if self._ready:
                pair = self._ready.popleft()
                self._cond.notify()
                return pair
        return self._make()

    def close(self) -> None:
        """Stop the thread and forget the pairs not handed out."""
        with self._cond:
            self._closed = True
            self._ready.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _fill(self) -> None:
        while True:
            with self._cond:
                while len(self._ready) >= self.AHEAD and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            pair = self._make()  # outside the lock: takers never wait for scrypt here
            with self._cond:
                if self._closed:
                    return
                self._ready.append(pair)
