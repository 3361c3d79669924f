"""Persons: linked distinct ids, person properties, and an index of events by user.

Events stored before this revision (``$identify``, ``$create_alias``, ``$set`` objects in any
event) are applied as they would be today, so an upgraded installation counts its persons too.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evana.server._storage._dialect import dialect_for_url
from evana.server._storage._persons import link_stored_events
from evana.server._storage._types import JSONDocument, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_user_id", "events", ["user_id"])
    op.create_table(
        "person_ids",
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_person_ids"),
    )
    op.create_index("ix_person_ids_pid", "person_ids", ["pid"])
    op.create_index("ix_person_ids_epoch", "person_ids", ["epoch"])
    op.create_table(
        "person_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("resets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_person_state"),
    )
    op.create_table(
        "person_properties",
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", JSONDocument, nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("uid", "key", "kind", name="pk_person_properties"),
    )
    connection = op.get_bind()
    link_stored_events(connection, dialect_for_url(connection.dialect.name))


def downgrade() -> None:
    op.drop_table("person_properties")
    op.drop_table("person_state")
    op.drop_index("ix_person_ids_epoch", table_name="person_ids")
    op.drop_index("ix_person_ids_pid", table_name="person_ids")
    op.drop_table("person_ids")
    op.drop_index("ix_events_user_id", table_name="events")
