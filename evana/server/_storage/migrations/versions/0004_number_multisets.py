"""Number multisets: ``number_rollups.values`` keeps each summary's numbers, so that median and
percentile trends are answered from number rollups too.

Rows written before this revision have no multiset, so every tracked numeric property starts
over: its rows are deleted and it waits for a backfill (``evana db upgrade`` runs it right after
the migrations, see ``_properties.backfill``), meanwhile its trends read raw events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evana.server._storage._dialect import dialect_for_url

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    # Before anything else, as a backfill step does: a writer that read the properties as
    # ready would otherwise add rows after the delete for events the backfill counts again
    # (and taken first, a writer holding its shared lock never waits on the table we alter).
    dialect_for_url(connection.dialect.name).lock_tracked(connection)
    op.add_column("number_rollups", sa.Column("values", sa.LargeBinary(), nullable=True))
    # Every row is of a tracked numeric property (untracking one deletes its rows).
    op.execute(sa.text("DELETE FROM number_rollups"))
    if connection.execute(sa.text("SELECT 1 FROM events LIMIT 1")).first() is None:
        return  # nothing to build: the properties stay ready, as sync_tracked makes them
    op.execute(
        sa.text(
            "UPDATE tracked_properties SET complete_through = NULL, ready = :ready"
            " WHERE kind = 'number'"
        ).bindparams(ready=False)
    )


def downgrade() -> None:
    op.drop_column("number_rollups", "values")
