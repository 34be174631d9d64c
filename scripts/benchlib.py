"""What the benchmark scripts share: servers on loopback, the machine, requests signed once and replayed, load.

* **Servers**: :class:`Server` (a subprocess with a readiness probe, always stopped), :func:`running`,
  :func:`hsmsim_server` and :func:`moto_server` / :func:`moto_executable`, :func:`free_port`, :func:`proc_status`
  (RSS and CPU time from /proc).
* **The machine**: :func:`machine_info`, :func:`versions` (with :func:`wrk_version`), :func:`pin_cpus` (server on
  one CPU, this process on another), :func:`wait_until_quiet`, and the header lines the scripts print.
* **Requests signed once** (:class:`Service`, :class:`Signed`, :func:`sign`): botocore's SigV4Auth with access key
  ``111122223333`` (= the account) in us-east-1; neither hsmsim nor moto verifies signatures or replays, so the
  same bytes are sent again and again and the client's signing cost stays out of the figures.
* **Load**: :func:`load_aiohttp` (asyncio + aiohttp, ``concurrency`` requests in flight over keep-alive
  connections, requests completed inside the timed window count) and :func:`load_wrk` (the same request driven by
  ``wrk``); :func:`summarize_rounds` (the median run stands for the measurement), :func:`send_count`,
  :func:`sequential` (one keep-alive connection, single-client latency).
* **Statistics**: :func:`percentile`, :func:`summary_ms`, :func:`summary`.

The scripts import it as a sibling module (``scripts/`` is put on ``sys.path``); it is not part of the package.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

HOST = "127.0.0.1"
ACCOUNT = "111122223333"
SECRET = "bench-secret"
REGION = "us-east-1"
JSON_11 = "application/x-amz-json-1.1"

SERVER_START_DEADLINE_S = 120.0
SERVER_STOP_TIMEOUT_S = 60.0
HEALTH_POLL_S = 0.010

VENV_BIN = Path(sys.executable).parent


# -- small utilities ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolation percentile (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median / p90 / min / max in ms of timings given in seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def summary(times_ms: Sequence[float], errors: int) -> dict[str, Any]:
    """p50 / p90 / p99 / mean of latencies given in ms, with the count of non-200 answers."""
    return {"n": len(times_ms), "errors": errors,
            "p50_ms": round(percentile(times_ms, 50), 3), "p90_ms": round(percentile(times_ms, 90), 3),
            "p99_ms": round(percentile(times_ms, 99), 3), "mean_ms": round(statistics.fmean(times_ms), 3)}


def proc_status(pid: int) -> dict[str, Any]:
    """VmRSS / VmHWM (MiB) and user+system CPU seconds of a live process, from /proc."""
    out: dict[str, Any] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    out["cpu_s"] = round((int(fields[11]) + int(fields[12])) / ticks, 2)  # utime, stime
    return out


# -- the machine -------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPUs (this process's affinity: call it before :func:`pin_cpus`), model, memory, kernel, load average."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_total = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 2**20, 1)
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_total_gib": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in ("hsmsim", "moto", "boto3", "botocore", "aiohttp", "SQLAlchemy", "python-pkcs11", "Werkzeug"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    try:
        out = subprocess.run(["softhsm2-util", "--version"], check=False, capture_output=True, text=True, timeout=10)
        found["softhsm2"] = out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        found["softhsm2"] = "not found"
    return found


def wrk_version() -> str | None:
    """``wrk``'s version if it is on PATH (``installed`` if it does not say), else None."""
    if not shutil.which("wrk"):
        return None
    said = subprocess.run(["wrk", "--version"], check=False, capture_output=True, text=True).stdout
    return said.split("[")[0].removeprefix("wrk").strip() or "installed"


def machine_line(machine: dict[str, Any]) -> str:
    return (f"- machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_total_gib']} GiB, "
            f"Linux {machine['kernel']}, load average {' '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}")


def versions_line(vers: dict[str, str]) -> str:
    return "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items())


def end_line(machine: dict[str, Any]) -> str:
    """Records the load average at the end in ``machine`` and returns the line that reports it."""
    machine["loadavg_at_end"] = list(os.getloadavg())
    return (f"\nload average at end: {' '.join(f'{x:.2f}' for x in machine['loadavg_at_end'])} "
            "(other processes on this machine add noise to every figure)")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nJSON written to {path}")


def pin_cpus(wanted: bool) -> list[str]:
    """With two CPUs or more, the server gets the first and this process (the load generator, and wrk, which
    inherits it) the second: otherwise the scheduler at times runs both on one CPU and halves the throughput.
    Returns the command prefix that starts a server on its CPU."""
    allowed = sorted(os.sched_getaffinity(0))
    if not wanted or len(allowed) < 2 or shutil.which("taskset") is None:
        return []
    os.sched_setaffinity(0, {allowed[1]})
    return ["taskset", "-c", str(allowed[0])]


def pinning_note(pin: list[str]) -> str | None:
    return f"server: {' '.join(pin)}; load generator: CPU {sorted(os.sched_getaffinity(0))}" if pin else None


def pinning_phrase(pin: list[str]) -> str:
    return "server pinned to one CPU, load generator to another" if pin else "server and load generator share the CPUs"


def start_report(title: str, pin_wanted: bool) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The machine and versions (read before pinning: machine_info counts this process's CPUs), the CPU pinning
    (:func:`pin_cpus`), and the report's first lines; returns (machine, versions, pin prefix)."""
    machine, vers = machine_info(), versions()
    pin = pin_cpus(pin_wanted)
    machine["pinning"] = pinning_note(pin)
    if (wrk := wrk_version()) is not None:
        vers["wrk"] = wrk
    print(f"# {title} ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
    print(machine_line(machine))
    print(versions_line(vers))
    return machine, vers, pin


def cpu_idle_fraction(seconds: float) -> float:
    """Share of all CPUs' time that was idle over the next ``seconds`` (from /proc/stat)."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, total (without guest time)

    idle0, total0 = read()
    time.sleep(seconds)
    idle1, total1 = read()
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_until_quiet(threshold: float, deadline_s: float) -> float:
    """Other processes on a 2-CPU machine take CPU from the server and the load generator alike: before a
    throughput run, wait (up to ``deadline_s``) for a half second in which the CPUs were ``threshold`` idle."""
    deadline = time.perf_counter() + deadline_s
    while True:
        idle = cpu_idle_fraction(0.5)
        if idle >= threshold or time.perf_counter() > deadline:
            return round(idle, 2)


# -- server processes --------------------------------------------------------------------------------------


@dataclass
class Server:
    """A server subprocess on 127.0.0.1 with a readiness probe; always stopped by :meth:`stop`."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    ready_method: str
    ready_path: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after_s: float = 0.0
    probes: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, deadline_s: float = SERVER_START_DEADLINE_S) -> Server:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its own copy of the descriptor
        try:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            log.close()
        deadline = self.started_at + deadline_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            self.probes += 1
            if self._probe():
                self.ready_after_s = time.perf_counter() - self.started_at
                return self
            time.sleep(HEALTH_POLL_S)
        raise RuntimeError(f"{self.name} not ready after {deadline_s} s:\n{self.log_tail()}")

    def _probe(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
        try:
            conn.request(self.ready_method, self.ready_path)
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> float | None:
        """SIGTERM, wait (SIGKILL if it does not exit in time); returns the seconds the shutdown took."""
        if self.process is None or self.process.poll() is not None:
            return None
        began = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: {self.name} ignored SIGTERM for {SERVER_STOP_TIMEOUT_S} s; killing it", file=sys.stderr)
            self.process.kill()
            self.process.wait(timeout=30)
        return time.perf_counter() - began

    def control(self, method: str, path: str) -> int:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def hsmsim_server(data_dir: Path, *, name: str = "hsmsim", port: int | None = None, prefix: Sequence[str] = (),
                  extra: Sequence[str] = (), log_path: Path | None = None) -> Server:
    """``hsmsim serve`` on loopback with its state in ``data_dir``; ``prefix`` goes before the command (``taskset``),
    ``extra`` after its options (``--max-clusters``, ``--delays`` ...). The log goes beside the data dir."""
    port = port or free_port()
    argv = [*prefix, sys.executable, "-m", "hsmsim", "serve", "--host", HOST, "--port", str(port),
            "--data-dir", str(data_dir), *extra, "--log-level", "WARNING"]
    log_path = log_path or data_dir.parent / f"{data_dir.name}-server.log"
    return Server(name, argv, port, log_path, "GET", "/_hsmsim/health")


def moto_executable() -> str | None:
    candidate = VENV_BIN / "moto_server"
    if candidate.exists():
        return str(candidate)
    return shutil.which("moto_server")


def moto_server(log_path: Path, *, name: str = "moto", prefix: Sequence[str] = ()) -> Server:
    """moto's server on loopback (:func:`moto_executable` must have found it)."""
    exe = moto_executable()
    assert exe is not None
    port = free_port()
    return Server(name, [*prefix, exe, "-H", HOST, "-p", str(port)], port, log_path, "POST", "/moto-api/reset")


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server.start()
    finally:
        server.stop()


def boto_client(service: str, url: str) -> Any:
    """A boto3 client of ``service`` at ``url`` (account 111122223333, us-east-1, no retries)."""
    return boto3.session.Session().client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id=ACCOUNT, aws_secret_access_key=SECRET,
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}))


# -- requests signed once ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """The JSON 1.1 protocol of one AWS service: SigV4 signing name and X-Amz-Target prefix."""

    signing_name: str
    target_prefix: str


KMS = Service("kms", "TrentService.")
CLOUDHSM = Service("cloudhsm", "BaldrApiService.")


@dataclass(frozen=True)
class Signed:
    operation: str
    headers: dict[str, str]
    body: bytes


def sign(service: Service, port: int, operation: str, params: dict[str, Any] | bytes) -> Signed:
    """A request signed once with SigV4 (replayed as is: neither server verifies signatures or replays)."""
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    request = AWSRequest(method="POST", url=f"http://{HOST}:{port}/", data=body,
                         headers={"Content-Type": JSON_11, "X-Amz-Target": service.target_prefix + operation})
    SigV4Auth(Credentials(ACCOUNT, SECRET), service.signing_name, REGION).add_auth(request)
    return Signed(operation, dict(request.headers.items()), body)


def send_once(port: int, request: Signed) -> dict[str, Any]:
    """One signed request on a connection of its own; the decoded answer (non-200 raises)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", "/", body=request.body, headers=request.headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{request.operation}: HTTP {response.status}: {data[:300]!r}")
    return json.loads(data)


# -- load: aiohttp (default) or wrk ------------------------------------------------------------------------


async def _drive(server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float) -> dict:
    """``concurrency`` workers loop over the request; requests completed inside the timed window count."""
    assert server.process is not None
    loop = asyncio.get_running_loop()
    url = server.url + "/"
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    samples: dict[str, tuple[float, float, float]] = {}  # wall, server CPU, client CPU
    window_start = loop.time() + warmup_s
    window_end = window_start + duration_s

    def sample(name: str) -> None:
        samples[name] = (loop.time(), proc_status(server.process.pid)["cpu_s"], time.process_time())

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, window_start - loop.time()))
        sample("start")
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        sample("end")

    async def worker(session: aiohttp.ClientSession) -> None:
        while (began := loop.time()) < window_end:
            try:
                async with session.post(url, data=request.body, headers=request.headers) as response:
                    await response.read()
                    status = str(response.status)
            except (TimeoutError, aiohttp.ClientError) as error:
                status = type(error).__name__
            done = loop.time()
            if window_start <= done < window_end:
                statuses[status] += 1
                if began >= window_start:
                    latencies.append(done - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60),
                                     skip_auto_headers=("User-Agent",), auto_decompress=False) as session:
        await asyncio.gather(sampler(), *(worker(session) for _ in range(concurrency)))
    wall = samples["end"][0] - samples["start"][0]
    completed = sum(statuses.values())
    ok = statuses.get("200", 0)
    ms = [x * 1000 for x in latencies]
    return {
        "client": "aiohttp", "concurrency": concurrency, "duration_s": round(wall, 3),
        "requests": completed, "errors": completed - ok, "statuses": dict(statuses),
        "rps": round(ok / wall, 1),
        "loaded_p50_ms": round(percentile(ms, 50), 2), "loaded_p99_ms": round(percentile(ms, 99), 2),
        "server_cpu_us_per_req": round((samples["end"][1] - samples["start"][1]) / max(ok, 1) * 1e6, 1),
        "server_cpu_share": round((samples["end"][1] - samples["start"][1]) / wall, 2),
        "client_cpu_share": round((samples["end"][2] - samples["start"][2]) / wall, 2),
    }


def load_aiohttp(server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float) -> dict:
    return asyncio.run(_drive(server, request, concurrency, warmup_s, duration_s))


def wrk_script(request: Signed, path: Path) -> Path:
    headers = "\n".join(f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in request.headers.items()
                        if k.lower() not in ("host", "content-length"))
    path.write_text(f'wrk.method = "POST"\nwrk.body = [==[{request.body.decode()}]==]\n{headers}\n')
    return path


def _wrk(server: Server, script: Path, concurrency: int, seconds: float) -> str:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
            server.url + "/"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout


def load_wrk(server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float,
             workdir: Path) -> dict:
    assert server.process is not None
    script = wrk_script(request, workdir / f"{request.operation}.lua")
    _wrk(server, script, concurrency, warmup_s)
    cpu0, wall0 = proc_status(server.process.pid)["cpu_s"], time.perf_counter()
    out = _wrk(server, script, concurrency, duration_s)
    cpu1, wall = proc_status(server.process.pid)["cpu_s"], time.perf_counter() - wall0

    def grab(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, out)
        return match.group(1) if match else default

    completed = int(grab(r"(\d+) requests in"))
    non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)"))
    said = grab(r"Socket errors: ([^\n]*)", "")
    socket_errors = sum(int(x) for x in re.findall(r"\d+", said))
    return {
        "client": "wrk", "concurrency": concurrency, "duration_s": float(duration_s),
        "requests": completed, "errors": non2xx + socket_errors,
        "rps": round(float(grab(r"Requests/sec:\s+([\d.]+)")) * (completed - non2xx) / max(completed, 1), 1),
        "loaded_p50_ms": _wrk_ms(grab(r"50%\s+([\d.]+\w+)", "nan")),
        "loaded_p99_ms": _wrk_ms(grab(r"99%\s+([\d.]+\w+)", "nan")),
        "server_cpu_us_per_req": round((cpu1 - cpu0) / max(completed - non2xx, 1) * 1e6, 1),
        "server_cpu_share": round((cpu1 - cpu0) / wall, 2),
    }


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    return round(float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)], 3)


def load(client: str, server: Server, request: Signed, concurrency: int, warmup_s: float, duration_s: float,
         workdir: Path) -> dict:
    """One throughput run with the ``client`` load generator (``aiohttp`` or ``wrk``)."""
    if client == "aiohttp":
        return load_aiohttp(server, request, concurrency, warmup_s, duration_s)
    return load_wrk(server, request, concurrency, warmup_s, duration_s, workdir)


def summarize_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round (by req/s) stands for the measurement; the spread and every round are kept."""
    rps = [r["rps"] for r in rounds]
    cpu = [r["server_cpu_us_per_req"] for r in rounds]
    return {
        "client": rounds[0]["client"], "concurrency": rounds[0]["concurrency"], "rounds": rounds,
        "rps": round(statistics.median(rps), 1), "rps_min": min(rps), "rps_max": max(rps),
        "errors": sum(r["errors"] for r in rounds),
        "server_cpu_us_per_req": round(statistics.median(cpu), 1),
        "loaded_p50_ms": round(statistics.median(r["loaded_p50_ms"] for r in rounds), 2),
        "loaded_p99_ms": round(statistics.median(r["loaded_p99_ms"] for r in rounds), 2),
    }


async def _send_count(url: str, request: Signed, total: int, concurrency: int) -> Counter[str]:
    statuses: Counter[str] = Counter()
    remaining = total

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with session.post(url, data=request.body, headers=request.headers) as response:
                await response.read()
                statuses[str(response.status)] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses


def send_count(url: str, request: Signed, total: int, concurrency: int) -> Counter[str]:
    """Send exactly ``total`` copies of the request, ``concurrency`` at a time (setup: CreateKey in bulk)."""
    return asyncio.run(_send_count(url, request, total, concurrency))


# -- single-client latency ---------------------------------------------------------------------------------


def sequential(port: int, requests: Sequence[Signed], warmup: int) -> dict[str, Any]:
    """Send the requests in order over one keep-alive connection; time all but the first ``warmup``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times: list[float] = []
    errors = connections = 0
    try:
        for i, request in enumerate(requests):
            connections += conn.sock is None
            began = time.perf_counter()
            conn.request("POST", "/", body=request.body, headers=request.headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - began
            errors += response.status != 200
            if i >= warmup:
                times.append(elapsed * 1000)
    finally:
        conn.close()
    return summary(times, errors) | {"connections": connections}


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; the first row is the header."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


# -- KMS: a symmetric key's requests -----------------------------------------------------------------------

PLAINTEXT = bytes(range(64))


def kms_client(url: str) -> Any:
    return boto_client("kms", url)


def crypto_requests(port: int, key_id: str, ciphertext: bytes) -> dict[str, Signed]:
    """Encrypt (64-byte plaintext), Decrypt (``ciphertext``, no KeyId), GenerateDataKey (AES_256) and DescribeKey
    of a symmetric key, signed once."""
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return {
        "Encrypt": sign(KMS, port, "Encrypt", {"KeyId": key_id, "Plaintext": b64(PLAINTEXT)}),
        "Decrypt": sign(KMS, port, "Decrypt", {"CiphertextBlob": b64(ciphertext)}),
        "GenerateDataKey": sign(KMS, port, "GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"}),
        "DescribeKey": sign(KMS, port, "DescribeKey", {"KeyId": key_id}),
    }


def check_answers(port: int, requests: dict[str, Signed], key_id: str) -> None:
    """One untimed call of each request, checking that the answer is the real thing."""
    def expect(ok: bool, operation: str, answer: Any) -> None:
        if not ok:
            raise RuntimeError(f"unexpected {operation} answer: {answer!r}")

    enc = send_once(port, requests["Encrypt"])
    expect(key_id in enc["KeyId"] and len(base64.b64decode(enc["CiphertextBlob"])) > len(PLAINTEXT), "Encrypt", enc)
    dec = send_once(port, requests["Decrypt"])
    expect(base64.b64decode(dec["Plaintext"]) == PLAINTEXT and key_id in dec["KeyId"], "Decrypt", dec)
    gdk = send_once(port, requests["GenerateDataKey"])
    expect(len(base64.b64decode(gdk["Plaintext"])) == 32 and len(base64.b64decode(gdk["CiphertextBlob"])) > 32,
           "GenerateDataKey", gdk)
    meta = send_once(port, requests["DescribeKey"])["KeyMetadata"]
    expect(meta["KeyId"] == key_id and meta["KeyState"] == "Enabled", "DescribeKey", meta)


# -- throughput runs: options, rounds, report --------------------------------------------------------------


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the throughput runs (``--load`` ... ``--no-pin``); :func:`check_load_arguments` after
    parsing."""
    parser.add_argument("--load", choices=("aiohttp", "wrk", "both"), default="aiohttp",
                        help="load generator for the throughput runs (wrk must be installed)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--duration", type=float, help="timed window per throughput run, s (default 5)")
    parser.add_argument("--rounds", type=int, help="throughput rounds per operation and client (default 3)")
    parser.add_argument("--warmup", type=float, help="warm-up before each window, s (default 1)")
    parser.add_argument("--quiet", type=float, default=0.85,
                        help="before each throughput run wait for the CPUs to be this idle (0 = don't wait)")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="longest wait for a quiet machine, s")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="don't pin the server and the load generator to CPUs of their own")


def check_load_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Defaults of the throughput options (``--quick``: 1 s windows, 0.5 s warm-up, 1 round), and wrk's presence."""
    args.duration = args.duration or (1.0 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.load != "aiohttp" and shutil.which("wrk") is None:
        parser.error("--load wrk needs wrk on PATH (apt-get install -y wrk)")


def load_clients(args: argparse.Namespace) -> tuple[str, ...]:
    return ("aiohttp", "wrk") if args.load == "both" else (args.load,)


def quiet(args: argparse.Namespace) -> float | None:
    return wait_until_quiet(args.quiet, args.quiet_wait) if args.quiet else None


def measure_throughput(targets: Sequence[tuple[str, Server, dict[str, Signed]]], operations: Sequence[str],
                       args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Throughput of each operation on each target (a label, its server and its signed requests) with each load
    client, ``args.rounds`` rounds; a round runs every target, operation and client once, so outside noise
    spreads over all of them. Returns ``{label: {operation: {client: summarize_rounds(...)}}}``."""
    clients = load_clients(args)
    runs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {
        label: {op: {c: [] for c in clients} for op in operations} for label, _s, _r in targets}
    names = ", ".join(dict.fromkeys(server.name for _l, server, _r in targets))
    for round_no in range(args.rounds):
        print(f"  {names}: load round {round_no + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
        for label, server, requests in targets:
            for op in operations:
                for client in clients:
                    idle = quiet(args)
                    run = load(client, server, requests[op], args.concurrency, args.warmup, args.duration, workdir)
                    runs[label][op][client].append(run | {"idle_before": idle, "loadavg_1m": os.getloadavg()[0]})
    return {label: {op: {c: summarize_rounds(r) for c, r in by_client.items()} for op, by_client in by_op.items()}
            for label, by_op in runs.items()}


def invalid(entry: dict[str, Any]) -> bool:
    return bool(entry.get("errors"))


def fmt_tp(entry: dict[str, Any]) -> str:
    spread = f" ({entry['rps_min']:,.0f}–{entry['rps_max']:,.0f})" if len(entry["rounds"]) > 1 else ""
    text = f"{entry['rps']:,.0f}{spread}; server CPU {entry['server_cpu_us_per_req']:.0f} µs/req"
    return text + (f" **INVALID: {entry['errors']} errors**" if invalid(entry) else "")


def fmt_lat(entry: dict[str, Any]) -> str:
    text = f"{entry['p50_ms']:.2f} / {entry['p90_ms']:.2f} / {entry['p99_ms']:.2f}"
    return text + (f" **INVALID: {entry['errors']} errors**" if invalid(entry) else "")
