"""Schema migrations (issue 10 item 6): Alembic brings a data dir to the newest schema at start; a data dir made
before migrations existed keeps everything; one from a newer release is refused; ``hsmsim db current|upgrade``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import ServerProcess

from hsmsim.core.db import make_engine
from hsmsim.core.schema import BASELINE, _copy_aside, current, head, metadata, prepare


def hsmsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hsmsim", *args], capture_output=True, text=True, timeout=120)


def version_rows(database: Path) -> list[tuple[str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchall()


def dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return list(connection.iterdump())


def test_the_migrations_make_exactly_the_models_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert prepare(engine) == head() == current(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata())
    engine.dispose()
    assert differences == []  # a model changed without a migration: write one (hsmsim/migrations/alembic.ini)


def test_a_data_dir_made_before_migrations_keeps_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    kms, cloudhsm = server.client("kms"), server.client("cloudhsmv2")
    key_id = kms.create_key(Description="from before")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/before", TargetKeyId=key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    cluster_id = cloudhsm.create_cluster(HsmType="hsm1.medium",
                                         SubnetIds=["subnet-0123456789abcdefa", "subnet-0123456789abcdefb"])["Cluster"]["ClusterId"]
    server.stop()
    with sqlite3.connect(data_dir / "hsmsim.db") as connection:  # what every data dir of main before issue 10 is
        connection.execute("DROP TABLE alembic_version")
    server.start()
    try:
        assert kms.describe_key(KeyId="alias/before")["KeyMetadata"]["Description"] == "from before"
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        assert [c["ClusterId"] for c in cloudhsm.describe_clusters()["Clusters"]] == [cluster_id]
    finally:
        server.stop()
    assert version_rows(data_dir / "hsmsim.db") == [(head(),)]
    assert "stamped as revision " + BASELINE in server.log_since(0)


def test_a_data_dir_from_a_newer_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    server.client("kms").create_key()
    server.stop()
    database = data_dir / "hsmsim.db"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    before = dump(database)
    result = hsmsim("serve", "--port", "1", "--data-dir", str(data_dir))
    assert result.returncode == 2, result.stderr
    assert "schema revision 9999" in result.stderr and "newer hsmsim" in result.stderr
    assert "Traceback" not in result.stderr
    assert version_rows(database) == [("9999",)] and dump(database) == before


def test_db_current_and_upgrade_on_a_stopped_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    missing = hsmsim("db", "current", "--data-dir", str(data_dir))
    assert missing.returncode == 2 and "no database" in missing.stderr
    ServerProcess(data_dir).start().stop()
    assert f"revision {head()}; newest known {head()}" in hsmsim("db", "current", "--data-dir", str(data_dir)).stdout
    with sqlite3.connect(data_dir / "hsmsim.db") as connection:
        connection.execute("DROP TABLE alembic_version")
    assert "revision none (made before migrations)" in hsmsim("db", "current", "--data-dir", str(data_dir)).stdout
    upgraded = hsmsim("db", "upgrade", "--data-dir", str(data_dir))
    assert upgraded.returncode == 0 and f"revision {head()}" in upgraded.stdout, upgraded.stderr
    assert version_rows(data_dir / "hsmsim.db") == [(head(),)]


def test_an_upgrade_first_copies_a_sqlite_database_aside_consistently(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hsmsim.db'}")  # WAL, as the server's
    prepare(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO sim_settings (name, number) VALUES ('clock_offset_seconds', 42)")
    copy = _copy_aside(engine, "0001")
    engine.dispose()
    assert copy is not None and copy.name.startswith("hsmsim.db.before-0001-")
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT number FROM sim_settings").fetchall() == [(42.0,)]
