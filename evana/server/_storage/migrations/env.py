"""Alembic environment: runs on the connection that evana's ``upgrade()`` hands over."""

from __future__ import annotations

from alembic import context

from evana.server._storage._migrate import VERSION_TABLE
from evana.server._storage._tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI directly
    raise SystemExit("evana migrations run through `evana db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
