"""hsmsim on PostgreSQL (``--db-url postgresql+psycopg://...``), end to end.

The module starts a private PostgreSQL cluster of its own: ``initdb`` into a temporary directory, ``pg_ctl start``
on a free loopback port with its unix socket in that directory, stopped and removed at teardown. As root (CI) the
cluster runs as the ``postgres`` user of Debian's ``postgresql`` package (PostgreSQL refuses to run as root), via
``runuser``. ``scripts/setup.sh test`` installs the package. Each test gets a database of its own, runs a real
server subprocess against it and checks the rows in PostgreSQL itself, not only through the API.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import ServerProcess, free_port
from helpers import active_cluster, describe, new_cluster

DAY = 24 * 3600
SUPERUSER = "postgres"
SERVER_TIMEZONE = "Pacific/Chatham"  # UTC+12:45/+13:45: a session time zone far from UTC must change nothing
TABLES = ["cloudhsm_clusters", "cloudhsm_hsms", "cloudhsm_backups", "cloudhsm_tags", "cloudhsm_users", "sim_settings"]


def pg_bindir() -> Path:
    """The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/<major>/bin, else initdb on PATH."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL initdb: scripts/setup.sh test installs Debian's postgresql package")
    return Path(initdb).parent


@dataclass
class Database:
    name: str
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{self.name}"

    def connect(self) -> psycopg.Connection[Any]:
        """A direct connection (over TCP, with the password, as hsmsim connects) to look at the rows."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname=self.name, autocommit=True
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return conn.execute(sql, params or None).fetchall()

    def counts(self) -> dict[str, int]:
        return {table: self.query(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary directory (initdb + pg_ctl), owned by ``postgres`` as root."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="hsmsim-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.password = secrets.token_hex(16)
        self.port = 0
        self.started = False
        self._runas: list[str] = []
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # made by Debian's postgresql-common
            self._runas = ["runuser", "-u", "postgres", "--"]
            self._owner = (user.pw_uid, user.pw_gid)

    def _own(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, *self._owner)

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._runas, str(self.bindir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}{log}")

    def start(self) -> None:
        self._own(self.root)
        self.sockets.mkdir()
        self._own(self.sockets)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._own(pwfile)
        self._run(
            "initdb", "--pgdata", str(self.data), "--username", SUPERUSER, "--pwfile", str(pwfile),
            "--auth-local", "trust", "--auth-host", "scram-sha-256", "--encoding", "UTF8", "--locale", "C", "--no-sync",
        )
        pwfile.unlink()
        for attempt in range(5):  # the free port may be taken between free_port() and the bind
            self.port = free_port()
            options = (
                f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.sockets} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-c TimeZone={SERVER_TIMEZONE}"
            )
            try:
                self._run("pg_ctl", "--pgdata", str(self.data), "--log", str(self.log), "--wait", "--timeout", "60",
                          "--options", options, "start")
                self.started = True
                return
            except RuntimeError:
                if attempt == 4:
                    raise

    def stop(self) -> None:
        try:
            if self.started:
                try:
                    self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "--wait", "--timeout", "60", "stop")
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "immediate", "--wait", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> Database:
        admin = Database("postgres", self.port, self.password)
        with admin.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return Database(name, self.port, self.password)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def database(postgres: PostgresCluster, request: pytest.FixtureRequest) -> Database:
    return postgres.create_database(request.node.name.removeprefix("test_")[:40])


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test only, on ``database`` (it shadows the session-wide SQLite one)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    process = ServerProcess(data_dir, args=["--db-url", database.url])
    try:
        yield process.start()
    finally:
        process.stop()


def state(client: Any) -> dict[str, Any]:
    clusters = client.describe_clusters()["Clusters"]
    backups = client.describe_backups(SortAscending=True)["Backups"]
    return {
        "clusters": clusters,
        "backups": backups,
        "tags": {r: client.list_tags(ResourceId=r)["TagList"] for r in
                 [c["ClusterId"] for c in clusters] + [b["BackupId"] for b in backups]},
    }


def clock(server: ServerProcess) -> datetime:
    status, body = server.control("GET", "/_hsmsim/clock")
    assert status == 200, body
    return datetime.fromtimestamp(body["epoch_seconds"], UTC)


def no_sqlite_files(data_dir: Path) -> bool:
    return not [p for p in data_dir.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3") or p.name.endswith("-wal")]


def test_clusters_hsms_and_backups_live_in_postgresql_and_survive_a_restart(server, database):
    client = server.client("cloudhsmv2")
    cluster_id, first = active_cluster(server, client)
    second = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    client.tag_resource(ResourceId=cluster_id, TagList=[{"Key": "env", "Value": "prod"}])

    cluster = describe(client, cluster_id)
    assert cluster["State"] == "ACTIVE"
    assert {h["HsmId"]: h["State"] for h in cluster["Hsms"]} == {first: "ACTIVE", second: "ACTIVE"}
    backups = client.describe_backups(SortAscending=True)["Backups"]
    assert [(b["BackupState"], b["ClusterId"]) for b in backups] == [("READY", cluster_id)] * 2
    server.advance(DAY + 60)  # a daily backup: due times compared in PostgreSQL
    backups = client.describe_backups(SortAscending=True)["Backups"]
    assert [b["BackupState"] for b in backups] == ["READY"] * 3
    assert backups == sorted(backups, key=lambda b: b["CreateTimestamp"])

    # The rows are in PostgreSQL, with the API's values; no SQLite file was made.
    assert no_sqlite_files(server.data_dir)
    assert database.query("SELECT cluster_id, state FROM cloudhsm_clusters") == [(cluster_id, "ACTIVE")]
    assert sorted(database.query("SELECT hsm_id, cluster_id, state FROM cloudhsm_hsms")) == sorted(
        [(first, cluster_id, "ACTIVE"), (second, cluster_id, "ACTIVE")]
    )
    assert database.query("SHOW TimeZone") == [(SERVER_TIMEZONE,)]
    rows = dict(database.query("SELECT backup_id, created_at FROM cloudhsm_backups"))
    assert set(rows) == {b["BackupId"] for b in backups}
    for backup in backups:  # naive UTC in the database, the same instant through the API
        assert abs(rows[backup["BackupId"]].replace(tzinfo=UTC) - backup["CreateTimestamp"]) < timedelta(milliseconds=1)
    assert database.query("SELECT resource_id, key, value FROM cloudhsm_tags") == [(cluster_id, "env", "prod")]
    assert database.query("SELECT number FROM sim_settings WHERE name = 'clock_offset_seconds'")[0][0] >= DAY
    (hsmsim_connections,) = database.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", database.name
    )[0]
    assert hsmsim_connections >= 1

    before = state(client)
    tokens_before = server.tokens()
    now_before = clock(server)
    server.stop()
    server.start()  # same data dir, same database

    assert clock(server) >= now_before
    assert state(client) == before
    assert server.tokens() == tokens_before
    assert no_sqlite_files(server.data_dir)

    # Still writable after the restart: an HSM deleted and one added (a backup and a restore from it).
    client.delete_hsm(ClusterId=cluster_id, HsmId=first)
    third = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    assert {h["HsmId"]: h["State"] for h in describe(client, cluster_id)["Hsms"]} == {
        second: "ACTIVE", third: "ACTIVE"
    }
    assert sorted(database.query("SELECT hsm_id FROM cloudhsm_hsms")) == sorted([(second,), (third,)])
    after = client.describe_backups()["Backups"]
    assert len(after) == len(backups) + 2  # one taken when the HSM was deleted, one to restore the new one from
    assert {b for (b,) in database.query("SELECT backup_id FROM cloudhsm_backups")} == {b["BackupId"] for b in after}


def test_reset_empties_postgresql(server, database):
    client = server.client("cloudhsmv2")
    active_cluster(server, client)
    new_cluster(client, TagList=[{"Key": "stage", "Value": "new"}])
    server.advance(60)
    counts = database.counts()
    assert counts["cloudhsm_clusters"] == 2 and counts["cloudhsm_hsms"] == 1 and counts["cloudhsm_backups"] == 1
    assert counts["cloudhsm_tags"] == 1 and counts["cloudhsm_users"] >= 1 and counts["sim_settings"] == 1

    for _ in range(2):  # twice: the second reset drops the tables the first one made
        status, body = server.control("POST", "/_hsmsim/reset")
        assert status == 200, body
        assert client.describe_clusters()["Clusters"] == []
        assert client.describe_backups()["Backups"] == []
        assert database.counts() == dict.fromkeys(TABLES, 0) | {"sim_settings": 1}
        assert database.query("SELECT number FROM sim_settings") == [(0.0,)]

    # The recreated tables take new rows.
    _, hsm_id = active_cluster(server, client)
    assert database.query("SELECT hsm_id, state FROM cloudhsm_hsms") == [(hsm_id, "ACTIVE")]
    assert no_sqlite_files(server.data_dir)
