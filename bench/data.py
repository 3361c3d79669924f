"""A deterministic synthetic event set: users with decaying retention, a Zipf mix of event names.

The same arguments always give the same events (ids included), so every run compares like with
like. Default size: 10M events, 200k users, 90 days, 50 event names.

    python -m bench.data --events 50000 --out /tmp/events.jsonl      # write JSON lines
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["EVENT_NAMES", "EventSet", "generate"]

#: The last day of every generated data set; the first is ``days - 1`` days earlier.
LAST_DAY = dt.date(2026, 10, 31)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

EVENT_NAMES = [
    "signup",
    *[
        f"{verb}_{thing}"
        for verb in ("view", "click", "open", "share", "buy", "search", "save")
        for thing in ("page", "item", "cart", "feed", "profile", "video", "note")
    ][:49],
]


@dataclass
class EventSet:
    """Generated events, sorted by time, as parallel numpy arrays."""

    event: np.ndarray  # int16 index into EVENT_NAMES
    user: np.ndarray  # int32 user number
    micros: np.ndarray  # int64 microseconds since the Unix epoch (UTC)
    id_hi: np.ndarray  # uint64: the high 64 bits of each event's UUIDv7
    id_lo: np.ndarray  # uint64: the low 64 bits
    first_day: dt.date
    last_day: dt.date

    def __len__(self) -> int:
        return len(self.event)

    def user_id(self, number: int) -> str:
        """The ``user_id`` string of a user number."""
        return f"user_{number:07d}"

    def rows(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[uuid.UUID, str, str, dt.datetime]]:
        """``(event_id, event, user_id, timestamp)`` for events [start, stop)."""
        stop = len(self) if stop is None else stop
        for i in range(start, stop):
            yield (
                uuid.UUID(int=(int(self.id_hi[i]) << 64) | int(self.id_lo[i])),
                EVENT_NAMES[self.event[i]],
                self.user_id(int(self.user[i])),
                _EPOCH + dt.timedelta(microseconds=int(self.micros[i])),
            )

    def json_lines(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        """Each event as one line of evana's wire format."""
        for event_id, name, user, stamp in self.rows(start, stop):
            yield json.dumps(
                {
                    "event_id": str(event_id),
                    "event": name,
                    "user_id": user,
                    "timestamp": stamp.isoformat().replace("+00:00", "Z"),
                }
            )


def generate(
    events: int = 10_000_000, users: int = 200_000, days: int = 90, seed: int = 7
) -> EventSet:
    """Make ``events`` events for ``users`` users over ``days`` days ending on LAST_DAY.

    Each user signs up on a random day (first event: ``signup``) and comes back on later days
    with a probability that decays with the days since signup and varies by user; the events
    of an active day are spread over its hours; names follow a Zipf law (s = 1.1).
    """
    rng = np.random.default_rng(seed)
    signup = rng.integers(0, days, users)
    stickiness = rng.beta(1.2, 3.0, users)
    offsets = np.arange(days)[None, :] - signup[:, None]  # days since signup, per user and day
    with np.errstate(divide="ignore", invalid="ignore"):
        p_back = np.where(
            offsets > 0,
            np.minimum(1.0, 1.6 * stickiness[:, None] * np.power(np.maximum(offsets, 1), -0.45)),
            0.0,
        )
    active = (rng.random((users, days)) < p_back) | (offsets == 0)
    pair_user, pair_day = np.nonzero(active)
    pairs = len(pair_user)
    if events < pairs:
        raise ValueError(
            f"{events} events cannot cover {pairs} active user-days: ask for more events"
        )
    weights = 0.2 + stickiness[pair_user]
    per_pair = 1 + rng.multinomial(events - pairs, weights / weights.sum())
    user = np.repeat(pair_user, per_pair).astype(np.int32)
    day = np.repeat(pair_day, per_pair).astype(np.int64)

    first_day = LAST_DAY - dt.timedelta(days=days - 1)
    day0 = (
        int((dt.datetime.combine(first_day, dt.time(), dt.UTC) - _EPOCH).total_seconds())
        * 1_000_000
    )
    micros = day0 + day * 86_400_000_000 + rng.integers(0, 86_400_000_000, len(user))

    ranks = np.arange(1, len(EVENT_NAMES))  # every name but signup
    zipf = 1.0 / np.power(ranks, 1.1)
    event = rng.choice(ranks, len(user), p=zipf / zipf.sum()).astype(np.int16)

    order = np.lexsort((micros, user))  # by user, then time
    user, micros, event, day = user[order], micros[order], event[order], day[order]
    first_of_user = np.ones(len(user), dtype=bool)
    first_of_user[1:] = user[1:] != user[:-1]
    event[first_of_user] = 0  # each user's very first event is their signup

    order = np.argsort(micros, kind="stable")  # the stream arrives in time order
    user, micros, event = user[order], micros[order], event[order]
    id_hi, id_lo = _uuid7(micros // 1000, rng)
    return EventSet(event, user, micros, id_hi, id_lo, first_day, LAST_DAY)


def _uuid7(millis: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic UUIDv7 halves: 48-bit ms, version 7, 12 random bits, variant, 62 random bits."""
    rand_a = rng.integers(0, 1 << 12, len(millis), dtype=np.uint64)
    rand_b = rng.integers(0, 1 << 62, len(millis), dtype=np.uint64)
    hi = (millis.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | rand_a
    lo = (np.uint64(0b10) << np.uint64(62)) | rand_b
    return hi, lo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file to write")
    args = parser.parse_args()
    data = generate(args.events, args.users, args.days)
    with args.out.open("w") as out:
        for line in data.json_lines():
            out.write(line + "\n")
    print(f"wrote {len(data)} events ({data.first_day} to {data.last_day}) to {args.out}")


if __name__ == "__main__":
    main()
