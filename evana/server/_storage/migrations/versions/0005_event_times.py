"""Event times: per day and event name, every counted event's (uid, timestamp), for funnels.

The table starts empty; ``evana db upgrade`` fills it for the events already stored (see
``_times.backfill``), and until a key is complete funnels over its day read raw events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_times",
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
        sa.Column("times", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_times"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_times_event_day", "event_times", ["event", "day"])
    op.create_index("ix_event_times_day_event", "event_times", ["day", "event"])
    if op.get_bind().dialect.name == "postgresql":
        # Packed binary records do not compress: spare the server trying.
        op.execute("ALTER TABLE event_times ALTER COLUMN times SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("event_times")
