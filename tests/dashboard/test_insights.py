"""The insight views (Trends, Funnels, Stickiness, Lifecycle) and the person's profile, in real
headless Chromium against a real ``evana serve``: each table is read from the DOM and compared
with what the API answers for the same query.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import SINCE, UNTIL, Seeded, Watched, open_page, sign_in
from .test_browser import shot

RANGE = f"since={SINCE}&until={UNTIL}"
FREE_OR_TEAM = ["free", "team"]
NAMESPACE = uuid.UUID("0d6c2f34-8a51-4f0e-b1f7-3c0f6f2b9a41")


def _extra_events() -> list[dict[str, Any]]:
    """Checkouts with an amount (for the property maths), and an anonymous id linked to a user."""
    rows = []
    for n in range(24):
        rows.append(
            {
                "event_id": str(uuid.uuid5(NAMESPACE, f"checkout-{n}")),
                "event": "checkout",
                "user_id": f"user_{n % 12:02d}",
                "timestamp": f"{SINCE.replace(day=1 + n)}T15:00:00Z",
                "properties": {"amount": 5 + (n * 7) % 40, "plan": "pro" if n % 3 else "free"},
            }
        )
    rows.append(
        {
            "event_id": str(uuid.uuid5(NAMESPACE, "anon-view")),
            "event": "page_view",
            "user_id": "anon_07",
            "timestamp": f"{SINCE}T08:00:00Z",
        }
    )
    rows.append(
        {
            "event_id": str(uuid.uuid5(NAMESPACE, "identify")),
            "event": "$identify",
            "user_id": "user_07",
            "timestamp": f"{SINCE}T08:05:00Z",
            "properties": {"$anon_distinct_id": "anon_07", "$set": {"country": "NL", "seats": 3}},
        }
    )
    return rows


@pytest.fixture(scope="module")
def data(seeded: Seeded) -> Seeded:
    response = httpx.post(
        f"{seeded.url}/v1/events",
        json={"events": _extra_events()},
        headers={"X-API-Key": seeded.admin_key},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert not response.json()["rejected"], response.text
    return seeded


def post(data: Seeded, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(
        f"{data.url}{path}", json=body, headers={"X-API-Key": data.admin_key}, timeout=30
    )
    response.raise_for_status()
    return response.json()


def cells(page: Any, selector: str) -> list[list[str]]:
    """The data-value of every number cell, row by row."""
    return page.locator(f"{selector} tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td.num')].map(c => c.dataset.value))"
    )


def _value(v: Any) -> str:
    return "" if v is None else json.dumps(v)


def _same(shown: str, v: Any) -> bool:
    return (shown == "" and v is None) or (shown != "" and float(shown) == float(v))


def test_trends_built_in_the_form_round_trip_through_the_url(data: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, data.url, data.admin_key, f"#/trends?{RANGE}")
    page.wait_for_selector("#trends-table")
    # Every event, total per day, by default.
    everything = post(
        data, "/v1/query/trends", {"since": str(SINCE), "until": str(UNTIL), "series": [{}]}
    )
    shown = cells(page, "#trends-table tbody")
    assert [row[0] for row in shown] == [
        str(p["value"]) for p in everything["results"][0]["points"]
    ]

    # Two events, unique users, broken down by plan with one value kept: "Other" holds the rest.
    page.fill("#trend-events input", "page_view")
    page.click("text=+ Event")
    page.locator("#trend-events input").nth(1).fill("purchase")
    page.select_option('select[name="math"]', "users")
    page.fill('input[name="breakdown"]', "plan")
    page.fill('input[name="limit"]', "1")
    page.select_option('select[name="interval"]', "week")
    page.click("form >> text=Show")
    page.wait_for_url("**breakdown=plan**")
    page.wait_for_selector("#trends-table th:has-text('Other')")
    body = {
        "since": str(SINCE),
        "until": str(UNTIL),
        "interval": "week",
        "series": [{"event": "page_view", "math": "users"}, {"event": "purchase", "math": "users"}],
        "breakdown": "plan",
        "breakdown_limit": 1,
    }
    expected = post(data, "/v1/query/trends", body)["results"]
    assert [r["breakdown"] for r in expected] == ["free", "$other", "free", "$other"]
    heads = page.locator("#trends-table thead th").all_inner_texts()
    assert heads[1:] == [
        f"{r['event']} · users · {'Other' if r['breakdown'] == '$other' else r['breakdown']}"
        for r in expected
    ]
    rows = cells(page, "#trends-table tbody")
    assert len(rows) == len(expected[0]["points"]) == 5  # the ISO weeks overlapping the range
    for k, row in enumerate(rows):
        assert row == [_value(r["points"][k]["value"]) for r in expected]
    assert cells(page, "#trends-table tfoot")[0] == [_value(r["total"]) for r in expected]
    expect(page.locator("#trends-result .uplot")).to_have_count(1)
    shot(page, "trends")

    # The URL holds the query: a reload draws the same table, and Back the previous query.
    url = page.url
    page.reload()
    page.wait_for_selector("#trends-table th:has-text('Other')")
    assert page.url == url
    assert cells(page, "#trends-table tbody") == rows
    assert page.input_value('input[name="breakdown"]') == "plan"
    assert page.locator("#trend-events input").count() == 2
    page.go_back()
    page.wait_for_url(lambda u: "breakdown" not in u)
    page.wait_for_selector("#trends-table")
    assert cells(page, "#trends-table tbody") == shown


def test_trends_property_math_with_a_filter_as_bars(data: Seeded, tab: Watched) -> None:
    page = tab.page
    where = [{"key": "plan", "op": "eq", "value": "pro"}]
    query = urllib.parse.urlencode(
        {
            "since": SINCE,
            "until": UNTIL,
            "events": json.dumps(["checkout"]),
            "math": "p90",
            "property": "amount",
            "where": json.dumps(where),
            "chart": "bar",
        }
    )
    sign_in(page, data.url, data.admin_key, f"#/trends?{query}")
    page.wait_for_selector("#trends-table")
    series = {"event": "checkout", "math": "p90", "property": "amount", "where": where}
    expected = post(
        data, "/v1/query/trends", {"since": str(SINCE), "until": str(UNTIL), "series": [series]}
    )["results"][0]
    rows = cells(page, "#trends-table tbody")
    assert all(_same(row[0], p["value"]) for row, p in zip(rows, expected["points"], strict=True))
    assert any(p["value"] is None for p in expected["points"])  # empty days are null
    assert _same(cells(page, "#trends-table tfoot")[0][0], expected["total"])
    # The filter row shows the URL's filter, and the chart is bars.
    assert page.input_value(".filter-row input[name='key']") == "plan"
    assert page.input_value(".filter-row input[name='value']") == "pro"
    expect(page.locator("#trends-result svg rect.bar")).to_have_count(
        sum(1 for p in expected["points"] if p["value"])
    )


def test_funnel_steps_with_filters(data: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, data.url, data.admin_key, f"#/funnel?{RANGE}")
    page.wait_for_selector("#funnel-result >> text=Name at least two steps")
    steps = page.locator("#funnel-steps .step")
    steps.nth(0).locator("input[name='event']").fill("signup")
    steps.nth(1).locator("input[name='event']").fill("page_view")
    page.click("text=+ Step")
    third = steps.nth(2)
    third.locator("input[name='event']").fill("purchase")
    third.locator("text=+ Filter").click()
    third.locator("input[name='key']").fill("plan")
    third.locator("select[name='op']").select_option("in")
    third.locator("input[name='value']").fill("free, team")
    page.fill("input[name='window']", "7")
    page.click("form >> text=Show")
    page.wait_for_selector("#funnel-table")
    body = {
        "since": str(SINCE),
        "until": str(UNTIL),
        "steps": [
            {"event": "signup"},
            {"event": "page_view"},
            {"event": "purchase", "where": [{"key": "plan", "op": "in", "value": FREE_OR_TEAM}]},
        ],
        "window": {"value": 7, "unit": "day"},
        "order": "ordered",
    }
    expected = post(data, "/v1/query/funnel", body)["steps"]
    assert expected[0]["users"] > expected[2]["users"] > 0
    rows = page.locator("#funnel-table tbody tr")
    assert rows.count() == 3
    for k, step in enumerate(expected):
        row = rows.nth(k)
        assert int(row.get_attribute("data-users")) == step["users"]
        assert float(row.get_attribute("data-conversion")) == step["conversion"]
        assert row.locator("td").nth(0).inner_text() == f"{step['users']:,}"
        assert row.locator("td").nth(1).inner_text() == f"{100 * step['conversion']:.1f}%"
        median = row.get_attribute("data-median-seconds")
        assert (float(median) if median else None) == step["median_seconds"]
    expect(page.locator("#funnel-result .funnel-step")).to_have_count(3)
    shot(page, "funnel")

    # In any order, from the shared URL in a new page with a read key.
    page.select_option("select[name='order']", "any")
    page.click("form >> text=Show")
    page.wait_for_url("**order=any**")
    page.wait_for_selector("#funnel-table")
    anyway = post(data, "/v1/query/funnel", {**body, "order": "any"})["steps"]
    got = page.locator("#funnel-table tbody tr").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.users))"
    )
    assert got == [s["users"] for s in anyway]
    value = page.locator("#funnel-steps .step").nth(2).locator("input[name='value']")
    assert value.input_value() == "free, team"


def test_stickiness_and_lifecycle_match_the_api(data: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, data.url, data.admin_key, f"#/stickiness?{RANGE}&event=page_view")
    page.wait_for_selector("#stickiness-table")
    expected = data.get("/v1/stats/stickiness", since=SINCE, until=UNTIL, event="page_view")
    rows = cells(page, "#stickiness-table tbody")
    assert len(rows) == len(expected["days"]) == 28
    assert [int(r[0]) for r in rows] == [d["users"] for d in expected["days"]]
    expect(page.locator("#stickiness-result svg rect.bar")).to_have_count(
        sum(1 for d in expected["days"] if d["users"])
    )
    shot(page, "stickiness")

    where = json.dumps([{"key": "plan", "op": "eq", "value": "free"}])
    page.goto(f"{data.url}/#/lifecycle?{RANGE}&period=week&where={urllib.parse.quote(where)}")
    page.wait_for_selector("#lifecycle-table")
    expected = data.get("/v1/stats/lifecycle", since=SINCE, until=UNTIL, period="week", where=where)
    rows = cells(page, "#lifecycle-table tbody")
    kinds = ("new", "returning", "resurrecting", "dormant")
    assert rows == [[str(p[k]) for k in kinds] for p in expected["periods"]]
    assert any(p["dormant"] for p in expected["periods"])
    # Dormant bars hang below the zero line; the others stand on it.
    zero = float(page.locator("#lifecycle-result svg line.axis").get_attribute("y1"))
    for rect in page.locator("#lifecycle-result svg rect.bar.s4").all():
        assert float(rect.get_attribute("y")) >= zero - 0.1
    for rect in page.locator("#lifecycle-result svg rect.bar.s1").all():
        top = float(rect.get_attribute("y")) + float(rect.get_attribute("height"))
        assert top <= zero + 0.1
    shot(page, "lifecycle")


def test_a_bad_filter_shows_the_api_message(data: Seeded, browser: Any) -> None:
    watched = open_page(browser)
    page = watched.page
    try:
        sign_in(page, data.url, data.read_key, f"#/stickiness?{RANGE}")
        page.wait_for_selector("#stickiness-table")
        page.click("text=+ Filter")
        page.fill(".filter-row input[name='key']", "amount")
        page.select_option(".filter-row select[name='op']", "gt")
        page.fill(".filter-row input[name='value']", "lots")
        page.click("form >> text=Show")
        line = page.locator("#stickiness-result .error")
        line.wait_for()
        where = json.dumps([{"key": "amount", "op": "gt", "value": "lots"}])
        answer = httpx.get(
            f"{data.url}/v1/stats/stickiness",
            params={"since": str(SINCE), "until": str(UNTIL), "where": where},
            headers={"X-API-Key": data.read_key},
        )
        assert answer.status_code == 422
        assert answer.json()["detail"][0] in line.inner_text()
        assert "gt needs a number" in line.inner_text()

        # A property math without its property: the trends request says so.
        page.goto(f"{data.url}/#/trends?{RANGE}&math=sum")
        line = page.locator("#trends-result .error")
        line.wait_for()
        assert "math sum needs a property" in line.inner_text()
        assert watched.outside == []
        assert watched.errors
        assert all("422" in e for e in watched.errors), watched.errors
    finally:
        page.context.close()


def test_a_read_key_opens_every_insight_view(data: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, data.url, data.read_key, f"#/overview?{RANGE}")
    assert page.locator("#nav a").all_inner_texts() == [
        "Overview",
        "Trends",
        "Funnels",
        "Retention",
        "Stickiness",
        "Lifecycle",
    ]
    steps = urllib.parse.quote(json.dumps([{"event": "signup"}, {"event": "purchase"}]))
    for view, query, table in (
        ("trends", RANGE, "#trends-table"),
        ("funnel", f"{RANGE}&steps={steps}", "#funnel-table"),
        ("stickiness", RANGE, "#stickiness-table"),
        ("lifecycle", RANGE, "#lifecycle-table"),
    ):
        page.goto(f"{data.url}/#/{view}?{query}")
        page.wait_for_selector(table)
        # The presets the other views use: a click keeps the rest of the query.
        page.click("button:has-text('90 days')")
        page.wait_for_url(f"**/#/{view}?**range=90d**")
        page.wait_for_selector(f"{table}, #{view}-result .empty")
    # A phone's width: the forms wrap, only the tables' own boxes scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for view in ("trends", "funnel", "lifecycle"):
        page.goto(f"{data.url}/#/{view}?{RANGE}&steps={steps}")
        page.wait_for_selector(f"#{view}-table")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, view


def test_person_page_shows_linked_ids_and_properties(data: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, data.url, data.admin_key, "#/person?id=anon_07")
    page.wait_for_selector("#person-props")
    person = data.get("/v1/persons/anon_07")
    assert sorted(person["distinct_ids"]) == ["anon_07", "user_07"]
    assert page.inner_text("#person-ids").split(", ") == person["distinct_ids"]
    for key, value in person["properties"].items():
        cell = page.locator(f'#person-props tr[data-key="{key}"] td')
        assert json.loads(cell.inner_text()) == value
    assert person["properties"]["country"] == "NL"
    # The other id links to its own page; the events stay below.
    page.click("#person-ids a")
    page.wait_for_url("**/#/person?id=user_07")
    page.wait_for_selector("#person-table")
    page.goto(f"{data.url}/#/person?id=nobody_at_all")
    page.wait_for_selector("#person-profile >> text=No person has this id")
    # The browser notes the lookup's 404 in the console; that line is expected, no other.
    assert all("404" in e for e in tab.errors), tab.errors
    tab.errors.clear()
