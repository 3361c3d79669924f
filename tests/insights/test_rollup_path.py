"""Without ``where``, the reports read the rollups only: never a raw event."""

from __future__ import annotations

from typing import Any

import pytest

from evana.server._insights import _activity
from tests.conftest import Api

from .conftest import LinkedPersons, day, query, send, stats, use_persons
from .reference import Ev


def test_reports_without_where_never_read_raw_events(
    iapi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(iapi, [Ev("view", "anon", day(2)), Ev("view", "ann", day(3)), Ev("buy", "bob", day(3))])
    use_persons(iapi, LinkedPersons(iapi, {"anon": "ann"}))

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a report without where read the raw events")

    monkeypatch.setattr(_activity, "load_event_rows", refuse)
    week: dict[str, Any] = {"since": "2026-11-02", "until": "2026-11-08"}
    assert stats(iapi, "wau", **week)["series"][-1]["users"] == 2
    assert stats(iapi, "top-events", **week)["events"][0] == {
        "event": "view",
        "count": 2,
        "users": 1,
    }
    assert [d["users"] for d in stats(iapi, "stickiness", **week)["days"][:2]] == [1, 1]
    got = stats(iapi, "lifecycle", **week, period="day")
    assert [p["new"] for p in got["periods"][:2]] == [1, 1]
    got = stats(iapi, "retention", **week, period="day", periods=2, type="recurring")
    assert [c["size"] for c in got["cohorts"][:2]] == [1, 2]


def test_trends_of_counts_and_persons_read_the_rollups_and_agree_with_raw_events(
    iapi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(
        iapi,
        [
            Ev("view", "anon", day(2, 23, offset=-2)),  # 3 Nov in UTC
            Ev("view", "ann", day(3)),
            Ev("buy", "bob", day(9)),
            Ev("view", "bob", day(10)),
        ],
    )
    use_persons(iapi, LinkedPersons(iapi, {"anon": "ann"}))
    body: dict[str, Any] = {
        "since": "2026-11-03",
        "until": "2026-11-10",
        "interval": "week",
        "series": [{"event": "view", "math": "users"}, {"math": "total"}, {"event": "nope"}],
    }
    # The raw-event path, forced by a filter that every event passes, is the reference.
    anything = [{"key": "absent", "op": "is_not_set"}]
    raw_body = {**body, "series": [{**s, "where": anything} for s in body["series"]]}
    expected = query(iapi, "trends", raw_body)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a trend of counts and persons read the raw events")

    monkeypatch.setattr(_activity, "load_event_rows", refuse)
    got = query(iapi, "trends", body)
    assert got == expected
    view, total, nope = got["results"]
    assert [p["value"] for p in view["points"]] == [1, 1]
    assert view["total"] == 2
    assert [p["value"] for p in total["points"]] == [2, 2]
    assert total["total"] == 4
    assert nope["total"] == 0


def test_a_string_filter_reads_only_the_rows_it_may_match(
    iapi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans: list[Any] = ["pro", "free", 5, ["pro"], {"plan": "pro"}, True, None, "Pro", "pro "]
    send(iapi, [Ev("buy", f"u{n}", day(2), {"tier": p}) for n, p in enumerate(plans)])
    send(iapi, [Ev("buy", "u_np", day(2)), Ev("view", "u_v", day(2), {"tier": "pro"})])
    read: list[int] = []
    load = _activity.load_event_rows

    def counting(*args: Any, **kwargs: Any) -> Any:
        rows = load(*args, **kwargs)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(_activity, "load_event_rows", counting)
    body: dict[str, Any] = {"since": "2026-11-02", "until": "2026-11-02"}
    pro = [{"key": "tier", "op": "eq", "value": "pro"}]
    got = query(iapi, "trends", {**body, "series": [{"event": "buy", "where": pro}]})
    assert got["results"][0]["total"] == 1
    either = [{"key": "tier", "op": "in", "value": ["pro", "free"]}]
    got = query(iapi, "trends", {**body, "series": [{"event": "buy", "where": either}]})
    assert got["results"][0]["total"] == 2
    steps = [{"event": "buy", "where": pro}, {"event": "view", "where": pro}]
    assert query(iapi, "funnel", {**body, "steps": steps})["steps"][0]["users"] == 1
    numbers = [{"key": "tier", "op": "eq", "value": 5}]
    got = query(iapi, "trends", {**body, "series": [{"event": "buy", "where": numbers}]})
    assert got["results"][0]["total"] == 1
    # The database handed over the matching rows only, except for a number (read in full).
    assert read == [1, 2, 2, len(plans) + 1]


def test_funnels_without_event_property_filters_read_event_times(
    iapi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(
        iapi,
        [
            Ev("signup", "anon", day(2, 10)),
            Ev("buy", "ann", day(2, 11), {"amount": 5}),  # ann is anon: one person
            Ev("signup", "bob", day(3, 23, offset=-2)),  # 4 Nov in UTC
            Ev("buy", "bob", day(4, 2)),
            Ev("signup", "cy", day(4, 9)),
        ],
    )
    use_persons(iapi, LinkedPersons(iapi, {"anon": "ann"}))
    body: dict[str, Any] = {
        "since": "2026-11-02",
        "until": "2026-11-05",
        "steps": [{"event": "signup"}, {"event": "buy"}],
        "window": {"value": 1, "unit": "day"},
    }
    raw = {
        **body,
        "steps": [
            {"event": "signup"},
            {"event": "buy", "where": [{"key": "nothing", "op": "is_not_set"}]},
        ],
    }
    expected = query(iapi, "funnel", raw)  # an event property: raw events

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a funnel without event property filters read the raw events")

    monkeypatch.setattr(_activity, "load_event_rows", refuse)
    got = query(iapi, "funnel", body)
    assert got == expected
    assert [s["users"] for s in got["steps"]] == [3, 2]
