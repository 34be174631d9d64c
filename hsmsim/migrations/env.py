"""Alembic's environment for hsmsim: migrations run on the connection hsmsim.core.schema hands over.

Used by the server at start (``hsmsim.core.schema.prepare``), by ``hsmsim db upgrade|current`` and by developers
writing a migration (``alembic -c hsmsim/migrations/alembic.ini revision --autogenerate -m "..."`` against a
database at head; then review the file by hand).
"""

from __future__ import annotations

from alembic import context

from hsmsim.core.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # the alembic command line: a URL from alembic.ini / -x url=...
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with create_engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=metadata(), render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
else:
    context.configure(connection=connection, target_metadata=metadata(), render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
