"""Property rollups: per-day counts and bitmaps of each value of the tracked event properties,
and per-day summaries (count, exact sums, least and greatest) of the tracked numeric ones.

The tables start empty. Properties are tracked from ``EVANA_INSIGHT_PROPERTIES``; ``evana db
upgrade`` builds their rollups for the events already stored (see ``_properties.backfill``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evana.server._storage._tables import PROPERTY_ROLLUP_IDS

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "property_rollups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(start=PROPERTY_ROLLUP_IDS),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "event", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_property_rollups"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_property_rollups_event_day", "property_rollups", ["event", "day"])
    op.create_index("ix_property_rollups_day_event", "property_rollups", ["day", "event"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE property_rollups ALTER COLUMN users SET STORAGE EXTERNAL")
    else:
        op.execute(
            "INSERT INTO sqlite_sequence (name, seq)"
            f" VALUES ('property_rollups', {PROPERTY_ROLLUP_IDS - 1})"
        )
    op.create_table(
        "number_rollups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "event", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("ints", sa.BigInteger(), nullable=False),
        sa.Column("int_sum", sa.Text(), nullable=False),
        sa.Column("scaled_sum", sa.Text(), nullable=False),
        sa.Column("low", sa.Text(), nullable=False),
        sa.Column("high", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_number_rollups"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_number_rollups_event_day", "number_rollups", ["event", "day"])
    op.create_index("ix_number_rollups_day_event", "number_rollups", ["day", "event"])
    op.create_table(
        "tracked_properties",
        sa.Column("property", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("complete_through", sa.Date(), nullable=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("property", "kind", name="pk_tracked_properties"),
    )


def downgrade() -> None:
    op.drop_table("tracked_properties")
    op.drop_table("number_rollups")
    op.drop_table("property_rollups")
