"""The dashboard in real headless Chromium against a real ``evana serve`` with seeded data.

Each view is checked against the figures the API gives for the same query, read from the DOM.
The same run writes the documentation's screenshots (``docs/images/dashboard-*.png``).
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from .conftest import IMAGES, SINCE, UNTIL, Seeded, Watched, open_page, sign_in

RANGE = f"since={SINCE}&until={UNTIL}"


def _num(text: str) -> int:
    return int(text.replace(",", "").strip())


def shot(page: Any, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"dashboard-{name}.png"), full_page=False)


def test_signin_then_overview_shows_the_api_figures(seeded: Seeded, tab: Watched) -> None:
    # evana serve printed where to go, beside the admin key.
    printed = "".join(seeded.server.output)
    assert f"dashboard: {seeded.url}/ (sign in with the admin key above)" in printed
    page = tab.page
    page.goto(f"{seeded.url}/")
    page.wait_for_url(f"{seeded.url}/signin")
    shot(page, "signin")
    sign_in(page, seeded.url, seeded.admin_key, f"#/overview?{RANGE}")
    page.wait_for_selector("#top-events-table")
    page.wait_for_selector("#retention table.heat")
    page.wait_for_selector("#active .uplot")
    page.wait_for_selector("#per-day .uplot")

    dau = seeded.get("/v1/stats/dau", since=SINCE, until=UNTIL)["series"]
    wau = seeded.get("/v1/stats/wau", since=SINCE, until=UNTIL)["series"]
    mau = seeded.get("/v1/stats/mau", since=SINCE, until=UNTIL)["series"]
    assert _num(page.inner_text("#fig-dau .value")) == dau[-1]["users"]
    assert _num(page.inner_text("#fig-wau .value")) == wau[-1]["users"]
    assert _num(page.inner_text("#fig-mau .value")) == mau[-1]["users"]
    assert _num(page.inner_text("#fig-peak .value")) == max(r["users"] for r in dau)
    rows = page.locator("#active details tbody tr")
    assert rows.count() == len(dau) == 28
    assert [_num(c) for c in rows.nth(9).locator("td").all_text_contents()[1:]] == [
        dau[9]["users"],
        wau[9]["users"],
        mau[9]["users"],
    ]

    counts = seeded.get("/v1/stats/events", since=SINCE, until=UNTIL)["events"][0]["series"]
    assert (
        _num(page.inner_text("#events-total"))
        == sum(r["events"] for r in counts)
        == len(seeded.events)
    )

    top = seeded.get("/v1/stats/top-events", since=SINCE, until=UNTIL, limit=10)["events"]
    shown = page.locator("#top-events-table tbody tr")
    assert shown.count() == len(top) == 3
    for i, row in enumerate(top):
        assert shown.nth(i).get_attribute("data-event") == row["event"]
        assert _num(shown.nth(i).locator(".count").inner_text()) == row["count"]
        assert _num(shown.nth(i).locator(".users").inner_text()) == row["users"]
    expect(page.locator("#top-events-table svg.spark polyline")).to_have_count(3)

    retention = seeded.get("/v1/stats/retention", until=UNTIL, period="week", periods=8)
    cohort = next(c for c in retention["cohorts"] if c["size"])
    row = page.locator(f'#retention tr[data-cohort="{cohort["cohort"]}"]')
    assert _num(row.locator(".size").inner_text()) == cohort["size"]
    assert int(row.locator('td[data-k="1"]').get_attribute("data-count")) == cohort["retained"][1]
    shot(page, "overview")


def test_retention_view_and_a_shared_url(seeded: Seeded, tab: Watched, browser: Any) -> None:
    page = tab.page
    sign_in(page, seeded.url, seeded.admin_key)
    page.click("#nav >> text=Retention")
    page.wait_for_url("**/#/retention")
    page.fill('input[name="since"]', str(SINCE))
    page.fill('input[name="until"]', str(UNTIL))
    page.click("text=Apply")
    page.select_option('select[name="period"]', "day")
    page.fill('input[name="periods"]', "7")
    page.fill('input[name="return_event"]', "page_view")
    page.click("form >> text=Show")
    page.wait_for_selector("#retention-result table.heat")
    expected = seeded.get(
        "/v1/stats/retention",
        since=SINCE,
        until=UNTIL,
        period="day",
        periods=7,
        return_event="page_view",
    )
    rows = page.locator("#retention-result tbody tr")
    assert rows.count() == len(expected["cohorts"]) == 28
    for i in (0, 5):
        cohort = expected["cohorts"][i]
        assert _num(rows.nth(i).locator(".size").inner_text()) == cohort["size"]
        cells = rows.nth(i).locator("td.cell")
        got = [cells.nth(k).get_attribute("data-count") for k in range(7)]
        assert [None if v is None else int(v) for v in got] == cohort["retained"]
    title = rows.nth(0).locator('td[data-k="1"]').get_attribute("title")
    assert title.startswith(
        f"{expected['cohorts'][0]['retained'][1]} of {expected['cohorts'][0]['size']} users"
    )
    shot(page, "retention")

    # The URL holds the whole query: another browser session opens the same table...
    shared = page.url
    assert "period=day" in shared
    assert "return_event=page_view" in shared
    assert f"since={SINCE}" in shared
    other = open_page(browser)
    try:
        sign_in(other.page, seeded.url, seeded.read_key, shared[shared.index("#") :])
        other.page.wait_for_selector("#retention-result table.heat")
        assert other.page.url == shared
        assert other.page.locator("#retention-result tbody tr").count() == 28
        assert other.outside == []
        assert other.errors == []
    finally:
        other.page.context.close()
    # ...and the back button returns to the previous query.
    page.go_back()
    page.wait_for_url(lambda url: "return_event" not in url)
    page.wait_for_selector("#retention-result table.heat")


def test_person_page_pages_newest_first_and_admin_erases(seeded: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, seeded.url, seeded.admin_key)
    page.goto(f"{seeded.url}/#/person?id=user_power")
    page.wait_for_selector("#person-table")
    mine = sorted(
        (e for e in seeded.events if e["user_id"] == "user_power"),
        key=lambda e: (e["timestamp"], e["event_id"]),
        reverse=True,
    )
    assert len(mine) > 50
    ids = page.locator("#person-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.eventId)"
    )
    assert ids == [e["event_id"] for e in mine[:50]]
    shot(page, "person")
    page.click("#older")
    page.wait_for_url("**before=**")
    expect(page.locator("#person-table tbody tr")).to_have_count(len(mine) - 50)
    ids = page.locator("#person-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.eventId)"
    )
    assert ids == [e["event_id"] for e in mine[50:]]

    page.goto(f"{seeded.url}/#/person?id=user_59")
    page.wait_for_selector("#person-table")
    page.click("#erase")
    page.click("dialog >> text=Cancel")  # nothing happens without the confirmation
    assert seeded.get("/v1/events/recent", user_id="user_59")["events"]
    page.click("#erase")
    page.click("dialog button.danger")
    expected = sum(1 for e in seeded.events if e["user_id"] == "user_59")
    page.wait_for_selector(f"text=Erased user_59: {expected} events deleted.")
    assert seeded.get("/v1/events/recent", user_id="user_59")["events"] == []


def test_live_events_arrive_and_filter(seeded: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, seeded.url, seeded.admin_key)
    page.goto(f"{seeded.url}/#/live?event=purchase")
    page.wait_for_selector("#live-table")
    newest = seeded.get("/v1/events/recent", event="purchase", limit=50)["events"]
    shown = page.locator("#live-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.eventId)"
    )
    assert shown == [e["event_id"] for e in newest]
    fresh = {
        "event_id": "0193a000-0000-7000-8000-00000000f00d",
        "event": "purchase",
        "user_id": "user_live",
        "timestamp": f"{UNTIL}T23:59:00Z",
    }
    response = httpx.post(
        f"{seeded.url}/v1/events",
        json={"events": [fresh]},
        headers={"X-API-Key": seeded.ingest_key},
    )
    assert response.json()["accepted"] == 1
    page.wait_for_selector(
        f'#live-table tbody tr[data-event-id="{fresh["event_id"]}"]', timeout=10_000
    )
    assert (
        page.locator("#live-table tbody tr").first.get_attribute("data-event-id")
        == fresh["event_id"]
    )
    shot(page, "live")
    page.fill('input[name="event"]', "signup")
    page.keyboard.press("Enter")
    page.wait_for_url("**event=signup")
    page.wait_for_selector("#live-status:has-text('“signup”')")
    names = set(page.locator("#live-table tbody tr td:nth-child(2)").all_inner_texts())
    assert names == {"signup"}


def test_admin_views_dlq_and_keys(seeded: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, seeded.url, seeded.admin_key)
    page.click("#nav >> text=Dead letters")
    page.wait_for_selector("#dlq-list >> text=Embedded mode has no dead-letter queue")
    page.click("#nav >> text=API keys")
    page.wait_for_selector("#keys-table")
    page.select_option('select[name="scope"]', "read")
    page.fill('input[name="name"]', "grafana")
    page.click("text=Create key")
    key = page.inner_text("#new-key-text")
    assert key.startswith("evana_")
    assert httpx.get(f"{seeded.url}/v1/stats/dau", headers={"X-API-Key": key}).status_code == 200
    row = page.locator("#keys-table tbody tr", has_text="grafana")
    row.wait_for()
    shot(page, "keys")
    row.locator("button.revoke").click()
    page.click("dialog button.danger")
    page.locator("#keys-table tbody tr", has_text="grafana").locator("td").nth(4).filter(
        has_text="20"
    ).wait_for()
    assert httpx.get(f"{seeded.url}/v1/stats/dau", headers={"X-API-Key": key}).status_code == 401


def test_read_key_denied_admin_views_and_sign_out(seeded: Seeded, tab: Watched) -> None:
    page = tab.page
    sign_in(page, seeded.url, seeded.read_key)
    # Raw events name users: a read key sees the reports only.
    assert page.locator("#nav a").all_inner_texts() == [
        "Overview",
        "Trends",
        "Funnels",
        "Retention",
        "Stickiness",
        "Lifecycle",
    ]
    for view, title in (("keys", "API keys"), ("dlq", "Dead letters"), ("live", "Live events")):
        page.goto(f"{seeded.url}/#/{view}")
        page.wait_for_selector(f"text={title} needs an admin key")
    # The API itself refuses the session, not only the page.
    paths = (("GET", "/v1/dlq"), ("GET", "/v1/keys"), ("DELETE", "/v1/users/user_01"))
    paths += (("GET", "/v1/events/recent"), ("GET", "/v1/users/user_01/events"))
    for method, path in paths:
        csrf = page.evaluate("fetch('/dashboard/session').then(r => r.json()).then(s => s.csrf)")
        answer = page.request.fetch(
            f"{seeded.url}{path}", method=method, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status == 403, (path, answer.status)
    page.click("#signout")
    page.wait_for_url(f"{seeded.url}/signin")
    assert page.request.get(f"{seeded.url}/v1/stats/dau").status == 401
    page.goto(f"{seeded.url}/")
    page.wait_for_url(f"{seeded.url}/signin")


def test_ingest_key_cannot_sign_in(seeded: Seeded, browser: Any) -> None:
    watched = open_page(browser)
    page = watched.page
    try:
        page.goto(f"{seeded.url}/signin")
        page.fill("#key", seeded.ingest_key)
        page.click("button[type=submit]")
        page.wait_for_selector("#error:not([hidden])")
        assert "cannot sign in" in page.inner_text("#error")
        assert page.url == f"{seeded.url}/signin"
        assert not [c for c in page.context.cookies() if c["name"] == "evana_session"]
        assert watched.outside == []
        # The only console line is the browser's note of the refused sign-in (HTTP 403).
        assert all("403" in line for line in watched.errors), watched.errors
    finally:
        page.context.close()


def test_dark_theme_and_a_phone_width(seeded: Seeded, browser: Any) -> None:
    for name, width, scheme in (("dark", 1280, "dark"), ("mobile", 390, "light")):
        watched = open_page(browser, width=width, height=844 if width < 500 else 900, scheme=scheme)
        page = watched.page
        try:
            # A read key: the reports, no raw event.
            sign_in(page, seeded.url, seeded.read_key, f"#/overview?{RANGE}")
            page.wait_for_selector("#top-events-table")
            page.wait_for_selector("#active .uplot")
            page.wait_for_selector("#retention table.heat")
            # Nothing wider than the screen but the tables' own scrolling boxes.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (background == "rgb(17, 20, 24)") == (scheme == "dark")
            shot(page, name)
            assert watched.outside == []
            assert watched.errors == []
        finally:
            page.context.close()


def test_api_docs_work_offline(seeded: Seeded, tab: Watched) -> None:
    page = tab.page
    page.goto(f"{seeded.url}/docs")
    page.wait_for_selector(".opblock-summary-description:has-text('Send a batch of events')")
    page.goto(f"{seeded.url}/redoc")
    page.wait_for_selector("h2:has-text('Send a batch of events')", timeout=20_000)
    # The documented example is real: sent as it is, it is accepted.
    spec = httpx.get(f"{seeded.url}/openapi.json").json()
    example = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    answer = httpx.post(
        f"{seeded.url}/v1/events", json=example, headers={"X-API-Key": seeded.ingest_key}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1, answer.text


def test_keyboard_alone_moves_between_views(seeded: Seeded, tab: Watched) -> None:
    page = tab.page
    page.goto(f"{seeded.url}/signin")
    # The key field takes the focus by itself (autofocus), which Chromium applies at its next
    # rendering step, after "load" on a busy machine: keys typed before it would be lost.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'key'")
    page.keyboard.type(seeded.admin_key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{seeded.url}/#/overview")
    page.wait_for_selector("#figures .figure")
    page.locator("#nav a", has_text="Live events").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/live")
    page.wait_for_selector("#live-table")
    assert page.evaluate("document.activeElement.id") == "main"  # the new view has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("signup")
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/live?event=signup")
    page.wait_for_selector("#live-status:has-text('“signup”')")
    page.locator("#theme").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"


def test_presets_empty_ranges_and_errors_are_shown(seeded: Seeded, browser: Any) -> None:
    watched = open_page(browser)
    page = watched.page
    try:
        sign_in(page, seeded.url, seeded.read_key, f"#/overview?{RANGE}")
        page.wait_for_selector("#top-events-table")
        page.click("button:has-text('7 days')")  # today's week: nothing was sent then
        page.wait_for_url("**/#/overview?range=7d")
        expect(page.locator("button:has-text('7 days')")).to_have_attribute("aria-pressed", "true")
        page.wait_for_selector("#top-events >> text=No events in this range.")
        page.wait_for_selector("#per-day >> text=No events in this range.")
        page.go_back()
        page.wait_for_selector("#top-events-table")
        # A range the API refuses: each panel says why in a line, no blank chart.
        page.goto(f"{seeded.url}/#/overview?since={UNTIL}&until={SINCE}")
        for panel in ("#active", "#per-day", "#top-events"):
            line = page.locator(f"{panel} .error")
            line.wait_for()
            assert f"since ({UNTIL}) is after until ({SINCE})" in line.inner_text()
        assert page.locator(".uplot").count() == 0
        assert watched.outside == []
        # The browser notes each refused request (HTTP 422) in the console; nothing else.
        assert watched.errors
        assert all("422" in line for line in watched.errors), watched.errors
    finally:
        page.context.close()
