"""Event properties for the insights benchmark, loaded alike into evana and into DuckDB.

On top of ``bench.data``'s events, every event carries three properties of different
cardinality: ``plan`` (4 values, a property of the user), ``country`` (100 values, Zipf-weighted,
a property of the user) and ``amount`` (a number per event, log-uniform over [1, 100000),
near-unique). Amounts are multiples of 1/64: every sum of them up to 2^46 is exact in binary
floating point whatever the order of the additions, so evana's and DuckDB's sums can be compared
for equality rather than within a tolerance.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb
import numpy as np

from evana.server._batch import NormalizedEvent
from evana.server._storage import Database, EventStore, sync_tracked, upgrade

from .data import EVENT_NAMES, EventSet

__all__ = [
    "COUNTRIES",
    "NUMBERS",
    "PLANS",
    "TRACKED",
    "Properties",
    "duckdb_events",
    "load",
    "properties",
    "write_all",
]

PLANS = ["free", "starter", "pro", "enterprise"]
_PLAN_WEIGHTS = [0.6, 0.25, 0.12, 0.03]
COUNTRIES = (
    "US GB DE FR IN BR CA AU JP ES IT NL MX PL SE KR TR ID RU CH BE AR AT NO DK FI IE PT CZ RO "
    "HU GR IL ZA NG EG KE MA SA AE SG MY TH VN PH PK BD CN TW HK NZ CL CO PE VE EC UY PY BO CR PA "
    "GT DO CU JM TT UA BY LT LV EE SK SI HR RS BA BG MK AL IS LU MT CY GE AM AZ KZ UZ KG TJ MN NP "
    "LK MM KH LA QA KW BH OM"
).split()
#: The properties evana keeps rollups of (``EVANA_INSIGHT_PROPERTIES``): the two of few values.
TRACKED = ["plan", "country"]
#: The numeric property summed per day (``EVANA_INSIGHT_NUMBERS``): near-unique, so it has no
#: per-value rollups; its number rollups keep each distinct amount for percentiles.
NUMBERS = ["amount"]
#: Amounts are k / 64 for an integer k (see the module docstring).
AMOUNT_UNIT = 64


@dataclass
class Properties:
    """Per-event property columns, parallel to an :class:`EventSet`'s arrays."""

    plan: np.ndarray  # int8 index into PLANS
    country: np.ndarray  # int16 index into COUNTRIES
    amount_units: np.ndarray  # int64: the amount times AMOUNT_UNIT

    def amounts(self) -> np.ndarray:
        """The amounts as float64 (exact: small multiples of 1/64)."""
        return self.amount_units.astype(np.float64) / AMOUNT_UNIT


def properties(data: EventSet, seed: int = 13) -> Properties:
    """Deterministic properties for ``data``: plan and country fixed per user, amount per event."""
    rng = np.random.default_rng(seed)
    users = int(data.user.max()) + 1
    user_plan = rng.choice(len(PLANS), users, p=_PLAN_WEIGHTS).astype(np.int8)
    zipf = 1.0 / np.power(np.arange(1, len(COUNTRIES) + 1), 1.2)
    user_country = rng.choice(len(COUNTRIES), users, p=zipf / zipf.sum()).astype(np.int16)
    low, high = np.log(AMOUNT_UNIT), np.log(AMOUNT_UNIT * 100_000)
    units = np.floor(np.exp(rng.uniform(low, high, len(data)))).astype(np.int64)
    return Properties(user_plan[data.user], user_country[data.user], units)


def load(url: str, data: EventSet, props: Properties, chunk: int = 10_000) -> float:
    """Migrate ``url``, track :data:`TRACKED` (ready at once: nothing is stored yet, so the
    writes keep their rollups) and store every event with its properties through evana's
    storage layer; return the seconds the writes took."""
    db = Database(url)
    upgrade(db)
    sync_tracked(db, TRACKED, NUMBERS)
    try:
        return write_all(EventStore(db), data, props, chunk)
    finally:
        db.dispose()


def write_all(store: EventStore, data: EventSet, props: Properties, chunk: int = 10_000) -> float:
    """Store every event of ``data`` with its properties through ``store``, ``chunk`` events
    a write; return the seconds the writes took."""
    now = dt.datetime.now(dt.UTC)
    amounts = props.amounts().tolist()
    plans, countries = props.plan.tolist(), props.country.tolist()
    start = time.perf_counter()
    for first in range(0, len(data), chunk):
        rows = [
            NormalizedEvent(
                event_id,
                name,
                user,
                stamp,
                {
                    "plan": PLANS[plans[i]],
                    "country": COUNTRIES[countries[i]],
                    "amount": amounts[i],
                },
                now,
            )
            for i, (event_id, name, user, stamp) in enumerate(
                data.rows(first, min(first + chunk, len(data))), start=first
            )
        ]
        store.write(rows)
    return time.perf_counter() - start


def duckdb_events(data: EventSet, props: Properties) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB table of the same events, each property in a typed column of its own
    (DuckDB's best case: no JSON to parse), sorted by time."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register(
        "src",
        {
            "event_no": data.event.astype(np.int32),
            "user_no": data.user,
            "micros": data.micros,
            "plan_no": props.plan.astype(np.int32),
            "country_no": props.country.astype(np.int32),
            "amount": props.amounts(),
        },
    )
    con.register(
        "names",
        {"event_no": np.arange(len(EVENT_NAMES), dtype=np.int32), "name": np.array(EVENT_NAMES)},
    )
    con.register(
        "plans", {"plan_no": np.arange(len(PLANS), dtype=np.int32), "plan": np.array(PLANS)}
    )
    con.register(
        "countries",
        {
            "country_no": np.arange(len(COUNTRIES), dtype=np.int32),
            "country": np.array(COUNTRIES),
        },
    )
    con.execute(
        """CREATE TABLE events AS
           SELECT n.name AS event, 'user_' || lpad(CAST(s.user_no AS VARCHAR), 7, '0') AS user_id,
                  make_timestamp(s.micros) AS timestamp, p.plan, c.country, s.amount
           FROM src s JOIN names n USING (event_no) JOIN plans p USING (plan_no)
                JOIN countries c USING (country_no)
           ORDER BY s.micros"""
    )
    for name in ("src", "names", "plans", "countries"):
        con.unregister(name)
    return con
