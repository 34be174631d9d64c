"""The data-plane client of the PKCS#11 application path: errors, a keep-alive HTTP client and the crypto-user login.

Shared by :mod:`hsmsim.pkcs11_app` (``hsmsim.connect``) and :mod:`hsmsim.pkcs11_env` (``hsmsim pkcs11-env``); it
imports no PKCS#11. The routes are :mod:`hsmsim.dataplane` and :mod:`hsmsim.dataplane_pkcs11`.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any


class DataPlaneError(Exception):
    """The server refused a request: ``code`` is its ``__type`` (e.g. ``AccessDenied``), ``status`` the HTTP status."""

    def __init__(self, message: str, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class ConnectError(DataPlaneError):
    """:func:`hsmsim.connect` or ``hsmsim pkcs11-env`` failed (unreachable server, bad credentials, wrong role,
    cluster not in service, ...)."""


class PinFormatError(ConnectError):
    """The PIN is not ``<username>:<password>``."""


class LoginFailed(ConnectError):
    """Wrong user name or password, or a locked user."""


class NotACryptoUser(ConnectError):
    """Only crypto users use keys (admins manage users)."""


class ClusterUnavailable(ConnectError):
    """Unknown cluster, not activated, or none of its ACTIVE HSMs can be opened in this process."""


_CONNECT_ERRORS = {"InvalidCredentials": LoginFailed, "UserLocked": LoginFailed, "UserNotFound": LoginFailed,
                   "RoleMismatch": NotACryptoUser, "AccessDenied": NotACryptoUser,
                   "ClusterNotFound": ClusterUnavailable, "ClusterNotReady": ClusterUnavailable}


class Plane:
    """A keep-alive HTTP client of ``/_hsmsim/clusters/{ClusterId}``: returns ``data`` or raises DataPlaneError."""

    def __init__(self, endpoint: str, cluster_id: str) -> None:
        url = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        if url.scheme != "http" or not url.hostname:
            raise ConnectError(f"Invalid endpoint {endpoint!r}: use http://HOST:PORT.")
        self.endpoint, self._host, self._port = endpoint, url.hostname, url.port or 80
        self.prefix = f"{url.path.rstrip('/')}/_hsmsim/clusters/{urllib.parse.quote(cluster_id, safe='')}"
        self.token: str | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body: Any = None, error: type[DataPlaneError] = DataPlaneError,
             whole: bool = False) -> Any:
        """``data`` of the reply (``whole``: the envelope); a refusal raises ``error`` (or a finer ConnectError)."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        with self._lock:
            while True:
                reused = self._conn is not None
                try:
                    if self._conn is None:
                        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
                    self._conn.request(method, self.prefix + path, body=data, headers=headers)
                    response = self._conn.getresponse()
                    status, raw = response.status, response.read()
                    break
                except (OSError, http.client.HTTPException) as exc:
                    self.close_connection()
                    stale = isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError)
                    if not (reused and stale):  # only a kept-alive connection the server closed is retried
                        raise error(f"Unable to connect to the simulator at {self.endpoint}: {exc}") from None
        try:
            envelope = json.loads(raw)
            data_out = envelope["data"]
        except (ValueError, KeyError, TypeError):
            raise error(f"Unexpected response from {self.endpoint} (HTTP {status}): is it an hsmsim server?") from None
        if status >= 400 or envelope.get("error_code"):
            code = envelope.get("__type", "")
            kind = _CONNECT_ERRORS.get(code, error) if error is ConnectError else error
            raise kind(str(data_out), code, status)
        return envelope if whole else data_out

    def close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def login(plane: Plane, pin: str) -> str:
    """Log in as the crypto user of ``pin`` (``user:password``); returns and keeps the bearer token."""
    username, colon, password = (pin or "").partition(":")
    if not colon or not username or not password:
        raise PinFormatError("The PIN must be '<username>:<password>' (like CLOUDHSM_PIN).")
    body = {"username": username, "password": password, "role": "crypto-user"}
    plane.token = plane.call("POST", "/login", body, ConnectError, whole=True)["token"]
    return plane.token
