"""``evana db upgrade`` keeps rollups of exactly the properties EVANA_INSIGHT_PROPERTIES names:
it builds them for the events already stored, and drops those no longer named."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

from evana.server._storage._packs import unpack
from tests._evana import run_evana


def _events_file(tmp_path: Path) -> Path:
    plans = ["pro", "free", None, 5]
    lines = []
    for n in range(60):
        props = {} if plans[n % 4] is None else {"plan": plans[n % 4]}
        lines.append(
            json.dumps(
                {
                    "event": "buy" if n % 3 else "view",
                    "user_id": f"u{n % 9}",
                    "timestamp": f"2026-11-0{1 + n % 3}T{n % 24:02d}:00:00Z",
                    "properties": props,
                }
            )
        )
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _per_value(database: Path) -> dict[tuple[str, str], int]:
    """Events per (day, "<event> <property> <value>" joined by U+001F) in the rollups."""
    found: Counter[tuple[str, str]] = Counter()
    with sqlite3.connect(database) as con:
        for day, key, blob in con.execute("SELECT day, event, users FROM property_rollups"):
            for text, (count, _) in unpack(blob).items():
                found[(day, f"{key}\x1f{text}")] += count
    return dict(found)


def _expected(database: Path) -> dict[tuple[str, str], int]:
    """The same counts, straight from the stored events."""
    with sqlite3.connect(database) as con:
        rows = con.execute(
            "SELECT date(timestamp), event,"
            " coalesce(json_quote(json_extract(properties, '$.plan')), 'null'), count(*)"
            " FROM events GROUP BY 1, 2, 3"
        )
        return {(day, f"{name}\x1fplan\x1f{value}"): n for day, name, value, n in rows}


def test_upgrade_builds_then_drops_the_rollups_of_a_property(tmp_path: Path) -> None:
    database = tmp_path / "evana.db"
    url = f"sqlite:///{database}"
    assert run_evana("db", "upgrade", "--database-url", url).returncode == 0
    stored = run_evana("ingest", str(_events_file(tmp_path)), "--database-url", url)
    assert stored.returncode == 0, stored.stderr
    assert _per_value(database) == {}

    built = run_evana(
        "db", "upgrade", "--database-url", url, env={"EVANA_INSIGHT_PROPERTIES": "plan"}
    )
    assert built.returncode == 0, built.stderr
    assert "Built the rollups of plan for 3 days of stored events." in built.stdout
    assert _per_value(database) == _expected(database)
    assert sum(_per_value(database).values()) == 60
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT property, ready FROM tracked_properties").fetchall() == [
            ("plan", 1)
        ]

    again = run_evana(
        "db", "upgrade", "--database-url", url, env={"EVANA_INSIGHT_PROPERTIES": "plan"}
    )
    assert again.returncode == 0
    assert "Built" not in again.stdout
    assert _per_value(database) == _expected(database)

    dropped = run_evana(
        "db", "upgrade", "--database-url", url, env={"EVANA_INSIGHT_PROPERTIES": ""}
    )
    assert dropped.returncode == 0, dropped.stderr
    assert _per_value(database) == {}
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT count(*) FROM tracked_properties").fetchone() == (0,)


def test_a_person_property_or_a_control_character_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evana.db'}"
    for value in ("person.plan", "pl\x01an"):
        done = run_evana(
            "db", "upgrade", "--database-url", url, env={"EVANA_INSIGHT_PROPERTIES": value}
        )
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert "insight_properties" in done.stderr.lower() or "INSIGHT_PROPERTIES" in done.stderr


def test_upgrade_builds_the_event_times_of_events_stored_before_them(tmp_path: Path) -> None:
    database = tmp_path / "evana.db"
    url = f"sqlite:///{database}"
    assert run_evana("db", "upgrade", "--database-url", url).returncode == 0
    stored = run_evana("ingest", str(_events_file(tmp_path)), "--database-url", url)
    assert stored.returncode == 0, stored.stderr
    with sqlite3.connect(database) as con:  # as a database of the version before them
        con.execute("DELETE FROM event_times")

    built = run_evana("db", "upgrade", "--database-url", url)
    assert built.returncode == 0, built.stderr
    # 60 events: views on 1 November, buys on the 2nd and 3rd: three (day, event) keys.
    assert "Built the event times of 3 day-event keys of stored events." in built.stdout
    with sqlite3.connect(database) as con:
        times = dict(
            con.execute("SELECT day || event, sum(length(times)) / 12 FROM event_times GROUP BY 1")
        )
        counted = dict(
            con.execute("SELECT date(timestamp) || event, count(*) FROM events GROUP BY 1")
        )
    assert times == counted
    assert sum(times.values()) == 60
    again = run_evana("db", "upgrade", "--database-url", url)
    assert again.stdout.startswith("The database is up to date")
    assert again.stdout.count("\n") == 1  # nothing to build: nothing more said
