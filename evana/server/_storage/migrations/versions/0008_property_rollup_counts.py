"""The events of each value of a property rollup row beside its bitmaps (``counts``), so that
an insight that counts events (``plan = pro`` per day, the top ten countries) reads a few
kilobytes a month rather than every value's bitmap of users: its first call at 10M events
fetched 1.7 MB for a month of ``country``.

The rows stored already get theirs here, one day at a time. A row without (one a worker of an
older version appends) is still read right: its counts come from its bitmaps, as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evana.server._storage._packs import tally

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_table = sa.table(
    "property_rollups",
    sa.column("id", sa.BigInteger()),
    sa.column("day", sa.Date()),
    sa.column("users", sa.LargeBinary()),
    sa.column("counts", sa.LargeBinary()),
)


def upgrade() -> None:
    op.add_column("property_rollups", sa.Column("counts", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    days = [day for (day,) in connection.execute(sa.select(_table.c.day).distinct())]
    for day in sorted(days):
        rows = connection.execute(
            sa.select(_table.c.id, _table.c.users).where(_table.c.day == day)
        ).all()
        connection.execute(
            sa.update(_table)
            .where(_table.c.id == sa.bindparam("row_id"))
            .values(counts=sa.bindparam("tally")),
            [{"row_id": row_id, "tally": tally(bytes(blob))} for row_id, blob in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("property_rollups") as batch:
        batch.drop_column("counts")
