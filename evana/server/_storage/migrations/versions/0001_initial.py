"""Initial schema: events, users, rollups, api_keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evana.server._storage._types import JSONDocument, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("properties", JSONDocument, nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
    )
    op.create_index("ix_events_timestamp", "events", ["timestamp"])
    op.create_table(
        "users",
        sa.Column("uid", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_users"),
        sa.UniqueConstraint("user_id", name="uq_users_user_id"),
    )
    op.create_table(
        "rollups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollups"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rollups_day_event", "rollups", ["day", "event"])
    op.create_index("ix_rollups_event_day", "rollups", ["event", "day"])
    if op.get_bind().dialect.name == "postgresql":
        # Roaring bitmaps are compressed already: skip TOAST's pglz pass on every read and write.
        op.execute("ALTER TABLE rollups ALTER COLUMN users SET STORAGE EXTERNAL")
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("rollups")
    op.drop_table("users")
    op.drop_table("events")
