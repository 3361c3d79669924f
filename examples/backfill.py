"""Import historical events from a CSV file (columns: timestamp, user_id, event, then properties).

Every row becomes one event whose id is derived from its content (``evana.derive_event_id``),
so importing the same file twice, or resuming an import that stopped half way, counts nothing
twice. Rows go out in batches of 1,000 with ``Client.send_batch``, which waits for the server's
answer and retries what may pass; rows the server rejects are printed with their line number.

    export EVANA_URL=http://127.0.0.1:8000 EVANA_API_KEY=evana_...
    python examples/backfill.py examples/data/events.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path
from typing import Any

import evana

BATCH = 1000
_COLUMNS = ("timestamp", "user_id", "event")


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, event)`` for each row; columns other than the first three are properties."""
    rows = []
    with path.open(newline="") as file:
        # Line 1 is the header; a row is one line (no quoted newlines in this format).
        for line, row in enumerate(csv.DictReader(file), start=2):
            timestamp = dt.datetime.fromisoformat(row["timestamp"])
            properties = {k: v for k, v in row.items() if k not in _COLUMNS and v != ""}
            event_id = evana.derive_event_id(row["event"], row["user_id"], timestamp, properties)
            event = {
                "event_id": str(event_id),
                "event": row["event"],
                "user_id": row["user_id"],
                "timestamp": timestamp.isoformat(),
                "properties": properties,
            }
            rows.append((line, event))
    return rows


def main() -> None:
    """Send every row of the file; report what was accepted and what was rejected."""
    parser = argparse.ArgumentParser(description="Backfill events from a CSV file.")
    parser.add_argument("csv", type=Path, help="timestamp,user_id,event[,property...] rows")
    args = parser.parse_args()
    rows = read_rows(args.csv)
    accepted = rejected = 0
    with evana.Client() as client:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            result = client.send_batch([event for _, event in chunk])
            accepted += result.accepted
            for reject in result.rejected:
                rejected += 1
                line = chunk[reject.index][0]
                print(f"line {line}: rejected: {'; '.join(reject.errors)}")
    print(f"{args.csv.name}: {len(rows)} rows, {accepted} accepted, {rejected} rejected")


if __name__ == "__main__":
    main()
