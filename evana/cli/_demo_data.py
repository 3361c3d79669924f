"""A synthetic product's events for ``evana demo``: realistic shapes, pure Python, deterministic.

Users sign up over the days (a few more each week: the product is growing), each with their own
stickiness; after signing up a user comes back on a later day with a probability that decays with
the days since signup (a power law, as real retention curves do) and dips at weekends. An active
day holds a few events whose names follow a Zipf law, so a handful of names dominate the top
events. The same ``seed`` and ``last_day`` always give the same lines, event ids included, so
running the demo twice against one server counts nothing twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import uuid
from collections.abc import Iterator

__all__ = ["EVENT_NAMES", "demo_lines"]

#: The product's event names, most frequent first (after each user's one ``signup``).
EVENT_NAMES = [
    "page_view",
    "search",
    "view_item",
    "add_to_cart",
    "share",
    "comment",
    "checkout",
    "purchase",
    "invite_friend",
    "upgrade_plan",
]
_PLANS = ["free", "free", "free", "pro", "team"]
_PLATFORMS = ["web", "web", "ios", "android"]
_ZIPF_S = 1.1


def _user_days(rng: random.Random, signup: int, days: int, stickiness: float) -> Iterator[int]:
    yield signup
    for day in range(signup + 1, days):
        since = day - signup
        chance = min(0.95, 1.4 * stickiness * since**-0.5)
        if (day % 7) in (5, 6):  # weekends (counted from the first day) are quieter
            chance *= 0.7
        if rng.random() < chance:
            yield day


def demo_lines(
    users: int = 2000, days: int = 28, seed: int = 7, last_day: dt.date | None = None
) -> Iterator[bytes]:
    """JSON lines (bytes, newline-terminated) of ``users`` users over ``days`` days.

    The days end on ``last_day`` (default: yesterday, UTC); nothing is later than now. Lines
    are in time order.

    >>> lines = list(demo_lines(users=3, days=2, last_day=dt.date(2026, 11, 2)))
    >>> json.loads(lines[0])["event"], lines == list(demo_lines(3, 2, 7, dt.date(2026, 11, 2)))
    ('signup', True)
    """
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    last_day = last_day or now.date() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=days - 1)
    weights = list(itertools.accumulate(1 / rank**_ZIPF_S for rank in range(1, 11)))
    # Growth: the chance of signing up on day d rises linearly to twice the first day's.
    signup_weights = list(itertools.accumulate(1 + d / max(1, days - 1) for d in range(days)))
    per_day: list[list[tuple[int, bytes]]] = [[] for _ in range(days)]
    for number in range(users):
        user_id = f"demo_{number:05d}"
        signup = rng.choices(range(days), cum_weights=signup_weights)[0]
        stickiness = rng.betavariate(1.6, 3.0)
        profile = {"plan": rng.choice(_PLANS), "platform": rng.choice(_PLATFORMS)}
        for day in _user_days(rng, signup, days, stickiness):
            names = ["signup"] if day == signup else []
            names += rng.choices(EVENT_NAMES, cum_weights=weights, k=1 + int(rng.expovariate(0.4)))
            start = dt.datetime.combine(first_day + dt.timedelta(days=day), dt.time(), dt.UTC)
            second = rng.randrange(6 * 3600, 23 * 3600)
            for name in names:
                second = min(second + rng.randrange(5, 600), 86_399)
                stamp = start + dt.timedelta(seconds=second)
                if stamp > now:
                    break
                event = {
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "event": name,
                    "user_id": user_id,
                    "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "properties": _properties(rng, name, profile),
                }
                per_day[day].append((second, json.dumps(event).encode() + b"\n"))
    for lines in per_day:
        lines.sort(key=lambda item: item[0])
        for _, line in lines:
            yield line


def _properties(rng: random.Random, name: str, profile: dict[str, str]) -> dict[str, object]:
    properties: dict[str, object] = dict(profile)
    if name == "purchase":
        properties["amount"] = round(rng.lognormvariate(3.2, 0.6), 2)
    elif name == "search":
        properties["query_length"] = rng.randint(1, 40)
    return properties
