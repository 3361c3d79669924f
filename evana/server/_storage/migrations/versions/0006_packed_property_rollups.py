"""Packed property rollups: one ``property_rollups`` row per (day, event, property), holding
every value's count and bitmap of users (``_packs``), instead of one row per value.

A write of a thousand events with ``plan`` and ``country`` tracked appended several hundred
rows, one per (day, event, value) it touched; it now appends one per (day, event, property).
The rows already stored are repacked here, one day at a time, so history whose raw events were
dropped keeps its property rollups. Stop the workers of older versions first: they would append
rows of the old form, which the new readers do not see.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op
from pyroaring import BitMap

from evana.server._storage._dialect import dialect_for_url
from evana.server._storage._packs import events_of, merge, pack, unpack

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEP = "\x1f"

_table = sa.table(
    "property_rollups",
    sa.column("id", sa.BigInteger()),
    sa.column("day", sa.Date()),
    sa.column("event", sa.Text()),
    sa.column("events", sa.BigInteger()),
    sa.column("users", sa.LargeBinary()),
)

Row = tuple[dt.date, str, int, bytes]


def _packed(day: dt.date, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """One day's rows of the old form (key "<event>\x1f<property>\x1f<value>") packed by
    (event, property)."""
    by_key: dict[str, list[Mapping[str, tuple[int, BitMap]]]] = {}
    for _, key, count, blob in rows:
        name, prop, text = key.rsplit(SEP, 2)
        by_key.setdefault(f"{name}{SEP}{prop}", []).append(
            {text: (count, BitMap.deserialize(blob))}
        )
    out = []
    for key, parts in sorted(by_key.items()):
        values = merge(parts)
        out.append({"day": day, "event": key, "events": events_of(values), "users": pack(values)})
    return out


def _unpacked(day: dt.date, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """One day's packed rows in the old form, one row per value."""
    out = []
    for _, key, _, blob in rows:
        for text, (count, users) in sorted(unpack(blob).items()):
            out.append(
                {
                    "day": day,
                    "event": f"{key}{SEP}{text}",
                    "events": count,
                    "users": users.serialize(),
                }
            )
    return out


def _rewrite(convert: Callable[[dt.date, Iterable[Row]], list[dict[str, Any]]]) -> None:
    """Replace every day's rows by ``convert``'s, one day at a time."""
    connection = op.get_bind()
    # As a backfill step does: no writer appends rows while they are rewritten.
    dialect_for_url(connection.dialect.name).lock_tracked(connection)
    days = [day for (day,) in connection.execute(sa.select(_table.c.day).distinct())]
    for day in sorted(days):
        rows = connection.execute(
            sa.select(_table.c.id, _table.c.day, _table.c.event, _table.c.events, _table.c.users)
            .where(_table.c.day == day)
            .order_by(_table.c.id)
        ).all()
        new = convert(day, ((d, key, count, bytes(blob)) for _, d, key, count, blob in rows))
        ids = [row_id for row_id, *_ in rows]
        for start in range(0, len(ids), 5000):
            connection.execute(sa.delete(_table).where(_table.c.id.in_(ids[start : start + 5000])))
        if new:
            connection.execute(sa.insert(_table), new)


def upgrade() -> None:
    _rewrite(_packed)


def downgrade() -> None:
    _rewrite(_unpacked)
