"""A signup flow through the real SDKs: anonymous events, identify (or alias), events as the
user — every report counts one person, and the person page shows both ids and the traits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import posthog
import segment.analytics as segment

from tests import reference as ref

from .conftest import Target, users
from .test_sdks import check_reports, wait_for

VISITORS = 8


def flow(base: dt.datetime, u: str) -> tuple[list[ref.Ev], list[ref.Ev], dict[str, str]]:
    """Each visitor browses anonymously on days 0-1, then signs up and buys on days 1-3."""
    anonymous, known, person = [], [], {}
    for i in range(VISITORS):
        anon, user = f"{u}anon{i}", f"{u}user{i}"
        person[anon] = person[user] = user
        for day in range(2):
            anonymous.append(ref.Ev("view", anon, base + dt.timedelta(days=day, hours=i + 1)))
        for day in range(1, 4):
            known.append(ref.Ev("buy", user, base + dt.timedelta(days=day, hours=i + 12)))
    return anonymous, known, person


def expect(target: Target, sent: list[ref.Ev], person: dict[str, str], base: dt.datetime) -> None:
    counted = [ref.Ev(e.event, person[e.user_id], e.timestamp) for e in sent]
    check_reports(target, counted, base)
    dau = target.report("dau", since=str(base.date()), until=str(base.date() + dt.timedelta(3)))
    assert [row["users"] for row in dau["series"]] == [VISITORS] * 4  # never 2x on day 1


def person_page(target: Target, distinct_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{target.url}/v1/persons/{distinct_id}", headers={"X-API-Key": target.read}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_posthog_python_identify_and_alias(target: Target) -> None:
    base = dt.datetime(2023, 7, 3, tzinfo=dt.UTC)
    u = users()
    anonymous, known, person = flow(base, u)
    errors: list[Any] = []
    client = posthog.Posthog(
        target.ingest, host=target.url, flush_at=20, on_error=lambda e, _: errors.append(e)
    )
    for e in anonymous:
        client.capture(e.event, distinct_id=e.user_id, timestamp=e.timestamp)
    for i in range(VISITORS):
        signup = base + dt.timedelta(days=1, hours=11)
        if i % 2:
            client.alias(previous_id=f"{u}anon{i}", distinct_id=f"{u}user{i}", timestamp=signup)
        else:
            client.capture(
                "$identify",
                distinct_id=f"{u}user{i}",
                properties={"$anon_distinct_id": f"{u}anon{i}", "$set": {"plan": "pro"}},
                timestamp=signup,
            )
    for e in known:
        client.capture(e.event, distinct_id=e.user_id, timestamp=e.timestamp)
    client.flush()
    client.shutdown()
    assert errors == []
    wait_for(target, u, len(anonymous) + len(known) + VISITORS)
    expect(target, anonymous + known, person, base)
    page = person_page(target, f"{u}anon0")
    assert sorted(page["distinct_ids"]) == [f"{u}anon0", f"{u}user0"]
    assert page["properties"] == {"plan": "pro"}
    assert page["first_seen"].startswith(str(base.date()))


def _segment_flow(target: Target, make: Callable[..., Any], base: dt.datetime) -> None:
    u = users()
    anonymous, known, person = flow(base, u)
    errors: list[Any] = []
    client = make(
        write_key=target.ingest,
        host=target.url,
        upload_size=20,
        on_error=lambda e, _: errors.append(e),
    )
    for e in anonymous:
        client.track(anonymous_id=e.user_id, event=e.event, timestamp=e.timestamp)
    for i in range(VISITORS):
        signup = base + dt.timedelta(days=1, hours=11)
        if i % 2:
            client.alias(f"{u}anon{i}", f"{u}user{i}", timestamp=signup)
        else:
            client.identify(
                f"{u}user{i}", {"plan": "team"}, anonymous_id=f"{u}anon{i}", timestamp=signup
            )
    for e in known:
        client.track(e.user_id, e.event, timestamp=e.timestamp)
    client.flush()
    client.join()
    assert errors == []
    wait_for(target, u, len(anonymous) + len(known) + VISITORS)
    expect(target, anonymous + known, person, base)
    page = person_page(target, f"{u}user0")
    assert sorted(page["distinct_ids"]) == [f"{u}anon0", f"{u}user0"]
    assert page["properties"] == {"plan": "team"}


def test_segment_analytics_python_identify_and_alias(target: Target) -> None:
    _segment_flow(target, segment.Client, dt.datetime(2023, 9, 4, tzinfo=dt.UTC))
