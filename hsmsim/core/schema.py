"""The database schema's version: Alembic migrations (``hsmsim/migrations``), applied when the server starts.

* A new database is made by the migrations, up to the newest (``head``).
* A database made before migrations existed (every table made by ``create_all``, no ``alembic_version`` table)
  has exactly the schema of the first revision, :data:`BASELINE`: it is stamped so and upgraded like any other.
* A database behind ``head`` is copied aside first (SQLite: ``hsmsim.db.before-<revision>-<UTC time>`` beside it,
  through SQLite's backup API, so a WAL database is copied consistently), then upgraded. PostgreSQL runs the
  upgrade in one transaction (its DDL is transactional): a failure leaves the database as it was.
* A database at a revision this release does not know was made by a newer hsmsim: :class:`SchemaError`, and the
  server refuses to start rather than guess.

``hsmsim db current`` and ``hsmsim db upgrade`` (``hsmsim.cli``) do the same by hand. A test keeps the models and
the migrations equal (Alembic's autogenerate comparison finds no difference).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BASELINE = "0001"
"""The schema of every data dir made before migrations existed (main before issue 10)."""


class SchemaError(RuntimeError):
    """The database cannot be used by this release; the message says why and what to do."""


def metadata() -> MetaData:
    """Every table of the simulator (importing the model modules registers them on the declarative base)."""
    import hsmsim.cloudhsm.models  # noqa: F401
    import hsmsim.core.settings  # noqa: F401
    import kms.models  # noqa: F401
    from hsmsim.core.db import Base

    return Base.metadata


def _config(connection: object | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """The migration scripts (read once per process)."""
    return ScriptDirectory.from_config(_config())


def head() -> str:
    revision = _scripts().get_current_head()
    assert revision is not None, "hsmsim/migrations has no revision"
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None for a database without the version table (empty, or made before
    migrations existed)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    return revision in {script.revision for script in _scripts().walk_revisions()}


def _copy_aside(engine: Engine, revision: str) -> Path | None:
    """A consistent copy of a SQLite database before its upgrade (None for other databases)."""
    if engine.url.get_backend_name() != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    source = Path(engine.url.database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = source.with_name(f"{source.name}.before-{revision}-{stamp}")
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def prepare(engine: Engine) -> str:
    """Bring the database to ``head`` (see the module docstring); returns the revision it is at now.

    :raises SchemaError: the database was made by a newer release.
    """
    newest = head()
    tables = set(inspect(engine).get_table_names())
    revision = current(engine)
    if revision is not None and not _known(revision):
        raise SchemaError(
            f"the database is at schema revision {revision}, which this hsmsim does not know (it knows up to "
            f"{newest}): it was made by a newer hsmsim. Run that release (or a newer one) on this data dir, or "
            "start on another data dir.")
    if revision == newest:
        return newest
    premigration = revision is None and bool(tables & set(metadata().tables))
    starting = BASELINE if premigration else revision
    if starting is not None and starting != newest:
        copy = _copy_aside(engine, starting)
        log.warning("upgrading the database from schema revision %s to %s%s", starting, newest,
                    f" (a copy of it before: {copy})" if copy else "")
    with engine.begin() as connection:
        config = _config(connection)
        if premigration:
            log.warning("database made before schema migrations: stamped as revision %s", BASELINE)
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    return newest
