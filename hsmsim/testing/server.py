"""A real hsmsim server for tests: ``python -m hsmsim serve`` as a subprocess on a free loopback port.

:class:`ServerProcess` starts the server on its own data dir, waits (bounded) until ``GET /_hsmsim/health``
answers, and stops it with SIGTERM (SIGKILL after a bounded wait). Its log is a file beside the data dir;
:meth:`ServerProcess.log_offset` and :meth:`ServerProcess.log_since` give the part a test produced.

Whatever keeps a server from starting raises :class:`ServerStartError` with a message that says what to install
or change (SoftHSMv2 missing, port taken, the server exiting early, a start that takes too long), never a hang.
:func:`check_endpoint` does the same for a server that is already running somewhere (``--hsmsim-endpoint``).

The server is a subprocess, not a thread of the test process, so that the test process never shares its PKCS#11
library with the server (``hsmsim.connect`` loads SoftHSM in the test process over the server's tokens).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from hsmsim.config import Config

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 5.0
SOFTHSM_HELP = ("SoftHSMv2 is required: install it (Debian/Ubuntu: `apt-get install softhsm2`; macOS: "
                "`brew install softhsm`) so that {module} exists.")


class ServerStartError(RuntimeError):
    """The server could not be started or reached; the message says what to install or change."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_softhsm(module: str = Config.softhsm_module) -> None:
    """Raise :class:`ServerStartError` unless the SoftHSMv2 PKCS#11 module the server loads is installed."""
    if not Path(module).is_file():
        raise ServerStartError(SOFTHSM_HELP.format(module=module))


def request_json(url: str, method: str = "GET", body: Any = None, timeout: float = REQUEST_TIMEOUT_S,
                 headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One JSON request: (status, decoded body); an HTTP error status is returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def check_endpoint(url: str, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """The health of the hsmsim server at ``url``; :class:`ServerStartError` if it is not one (or not reachable)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerStartError(f"--hsmsim-endpoint {url!r} is not a URL: use http://HOST:PORT, for example "
                               "http://127.0.0.1:4599 (start one with `hsmsim serve`).")
    try:
        status, body = request_json(url.rstrip("/") + "/_hsmsim/health", timeout=timeout)
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ServerStartError(f"no hsmsim server answers at {url} ({reason}): start one with `hsmsim serve "
                               "--port PORT`, fix --hsmsim-endpoint, or drop the option to let the plugin start "
                               "its own server.") from None
    if status != 200 or not isinstance(body, dict) or "services" not in body:
        raise ServerStartError(f"{url} answered GET /_hsmsim/health with HTTP {status}: it is not an hsmsim server; "
                               "fix --hsmsim-endpoint.")
    return body


@dataclass
class ServerProcess:
    """``hsmsim serve`` on ``data_dir``; ``args`` are extra ``serve`` options (``--delays fast``, ...)."""

    data_dir: Path
    args: Sequence[str] = ()
    port: int = 0  # 0: a free port chosen at start (retried if another process takes it first)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    start_timeout: float = START_TIMEOUT_S

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self._chosen_port, self._started = self.port == 0, False
        if self._chosen_port:
            self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Start and wait until healthy; :class:`ServerStartError` (with the log's tail) otherwise."""
        check_softhsm()
        if shutil.which("softhsm2-util") is None:
            raise ServerStartError(SOFTHSM_HELP.format(module="softhsm2-util") + " (softhsm2-util is not on PATH)")
        movable = self._chosen_port and not self._started  # a restart keeps its URL
        for _attempt in range(3):
            if port_in_use(self.port):
                if not movable:
                    raise ServerStartError(f"port {self.port} is already in use on 127.0.0.1: stop what listens "
                                           "there or choose another port (port=0 picks a free one).")
                self.port = free_port()
                continue
            offset = self.log_offset()
            if self._launch(offset, movable):
                self._started = True
                return self
            self.port = free_port()  # lost the port to another process between the probe and the bind
        raise ServerStartError(f"could not bind a free loopback port for hsmsim; see {self.log_path}")

    def _launch(self, offset: int, movable: bool) -> bool:
        """True once healthy; False if the port was taken meanwhile (the caller retries on another)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hsmsim", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                 *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                tail = self.log_since(offset)
                if "address already in use" in tail.lower() and movable:
                    return False
                raise ServerStartError(self._exit_message(code, tail))
            try:
                status, _ = request_json(self.url + "/_hsmsim/health", timeout=PROBE_TIMEOUT_S)
                if status == 200:
                    return True
            except (OSError, ValueError):
                pass  # not listening yet
            time.sleep(0.02)
        self.stop()
        raise ServerStartError(f"hsmsim serve did not answer on {self.url} within {self.start_timeout:.0f} s; "
                               f"its log ({self.log_path}) ends with:\n{tail_lines(self.log_since(offset), 20)}")

    def _exit_message(self, code: int, tail: str) -> str:
        lowered = tail.lower()
        if "address already in use" in lowered:
            hint = f"port {self.port} is already in use: choose another port."
        elif "softhsm" in lowered and ("no such file" in lowered or "cannot open" in lowered):
            hint = SOFTHSM_HELP.format(module=Config.softhsm_module)
        elif "unrecognized arguments" in lowered or "invalid choice" in lowered or "argument" in lowered:
            hint = "an option given to `hsmsim serve` was refused (see below)."
        else:
            hint = "see the log below."
        return f"hsmsim serve exited with status {code} before it was ready: {hint}\n{tail_lines(tail, 20)}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_offset(self) -> int:
        """The log's current size: pass it to :meth:`log_since` to get what was logged after now."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A request to the server (``/_hsmsim/...``): (status, decoded JSON body)."""
        return request_json(self.url + path, method, body)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward ``seconds``."""
        status, body = self.control("POST", "/_hsmsim/clock", {"advance_seconds": seconds})
        if status != 200:
            raise RuntimeError(f"advancing the clock failed: {body}")

    def tokens(self) -> dict[str, str]:
        """label -> serial of the tokens in the data dir, read by softhsm2-util (an independent reader)."""
        env = dict(os.environ, SOFTHSM2_CONF=str(self.data_dir / "softhsm2.conf"))
        out = subprocess.run(["softhsm2-util", "--show-slots"], env=env, capture_output=True, text=True,
                             check=True, timeout=REQUEST_TIMEOUT_S).stdout
        found: dict[str, str] = {}
        serial = None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("Serial number:"):  # softhsm2-util prints a token's serial before its label
                serial = line.split(":", 1)[1].strip()
            elif line.startswith("Label:") and serial:
                found[line.split(":", 1)[1].strip()] = serial
                serial = None
        return found


def tail_lines(text: str, count: int) -> str:
    lines = text.rstrip("\n").splitlines()
    return "\n".join(lines[-count:])
