"""The real server SDKs — posthog-python, segment-analytics-python, rudder-sdk-python — sending to
a real ``evana serve``, embedded and production: every report equals the reference."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import posthog
import rudderstack.analytics as rudder
import segment.analytics as segment

from tests import reference as ref

from .conftest import Target, users

NAMES = ["signup", "view", "buy"]


def planned(base: dt.datetime, prefix: str, count: int = 150, seed: int = 7) -> list[ref.Ev]:
    """``count`` events over 20 days from ``base``, away from midnight."""
    rnd = random.Random(seed)
    return [
        ref.Ev(
            rnd.choice(NAMES),
            f"{prefix}{rnd.randrange(15)}",
            base
            + dt.timedelta(
                days=rnd.randrange(20), hours=rnd.randrange(1, 23), seconds=rnd.randrange(3600)
            ),
        )
        for _ in range(count)
    ]


def check_reports(target: Target, sent: list[ref.Ev], base: dt.datetime) -> None:
    since, until = base.date(), (base + dt.timedelta(days=25)).date()
    params = {"since": str(since), "until": str(until)}
    for report, window in (("dau", 1), ("wau", 7), ("mau", 30)):
        assert target.report(report, **params) == ref.active(sent, since, until, window), report
    assert target.report("top-events", **params, limit=10) == ref.top(sent, since, until, 10)
    retention = target.report("retention", **params, period="day", periods=8)
    assert retention == ref.retention(sent, since, until, "day", 8)


def wait_for(target: Target, prefix: str, count: int) -> None:
    target.wait_rows(prefix, count, timeout=60)


def test_posthog_python(target: Target) -> None:
    base = dt.datetime(2023, 1, 2, tzinfo=dt.UTC)
    u = users()
    sent = planned(base, u)
    errors: list[Any] = []
    client = posthog.Posthog(
        target.ingest,
        host=target.url,
        flush_at=40,
        gzip=True,
        on_error=lambda e, _: errors.append(e),
    )
    for e in sent:
        client.capture(e.event, distinct_id=e.user_id, properties={"n": 1}, timestamp=e.timestamp)
    # Person operations: stored, counted in no report.
    client.capture(
        "$identify",
        distinct_id=f"{u}0",
        properties={"$anon_distinct_id": f"{u}anon"},
        timestamp=base,
    )
    client.set(distinct_id=f"{u}1", properties={"plan": "pro"})
    client.alias(previous_id=f"{u}old", distinct_id=f"{u}2", timestamp=base)
    client.group_identify("company", "acme", {"size": 5}, distinct_id=f"{u}3", timestamp=base)
    client.flush()
    client.shutdown()
    assert errors == []
    wait_for(target, u, len(sent) + 4)
    check_reports(target, sent, base)


def _segment_like(target: Target, make: Callable[..., Any], base: dt.datetime) -> None:
    u = users()
    sent = planned(base, u)
    errors: list[Any] = []
    client = make(
        write_key=target.ingest,
        host=target.url,
        upload_size=40,
        on_error=lambda e, _: errors.append(e),
    )
    expected = []
    for i, e in enumerate(sent):
        if i % 10 == 0:
            client.page(e.user_id, name="Pricing", category="Docs", timestamp=e.timestamp)
            expected.append(ref.Ev("$pageview", e.user_id, e.timestamp))
        elif i % 10 == 1:
            client.screen(e.user_id, name="Home", timestamp=e.timestamp)
            expected.append(ref.Ev("$screen", e.user_id, e.timestamp))
        else:
            client.track(e.user_id, e.event, {"n": i}, timestamp=e.timestamp)
            expected.append(e)
    client.identify(f"{u}0", {"plan": "pro"}, anonymous_id=f"{u}anon", timestamp=base)
    client.alias(f"{u}old", f"{u}1", timestamp=base)
    client.group(f"{u}2", "acme", {"size": 5}, timestamp=base)
    client.flush()
    client.join()
    assert errors == []
    wait_for(target, u, len(sent) + 3)
    check_reports(target, expected, base)


def test_segment_analytics_python(target: Target) -> None:
    _segment_like(target, segment.Client, dt.datetime(2023, 3, 1, tzinfo=dt.UTC))


def test_rudder_sdk_python(target: Target) -> None:
    _segment_like(target, rudder.Client, dt.datetime(2023, 5, 1, tzinfo=dt.UTC))
