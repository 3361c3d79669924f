"""The real posthog-js and analytics.js, from the npm registry, in a real headless Chromium,
sending to evana.

The page is served from another origin than evana's (another port), as a customer's site is,
so CORS preflights are part of the test. The console must show no error and no request may
fail: every start-up call posthog-js makes gets a well-formed answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Target, users

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium at /usr/bin")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<script src="/posthog.js"></script></head>
<body><button id="buy">Buy</button>
<script>
  posthog.init(%(key)r, {
    api_host: %(host)r,
    autocapture: false,
    capture_pageview: true,
    persistence: "memory",
    opt_out_useragent_filter: true,  // headless Chromium says "HeadlessChrome": not a bot here
    bootstrap: {distinctID: %(user)r, isIdentifiedID: true},
    loaded: () => { window.posthogLoaded = true; },
  });
  document.getElementById("buy").addEventListener("click", () => {
    posthog.capture(%(event)r, {plan: "pro", price: 12.5});
  });
</script></body></html>
"""


@contextlib.contextmanager
def site(root: Path) -> Iterator[str]:
    """A static site on its own port: another origin than evana's."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *_args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser_page(root: Path) -> Iterator[tuple[Any, str, list[str]]]:
    """A Chromium page, the site's origin, and every console error or warning, page error,
    failed request and HTTP error the page met."""
    problems: list[str] = []
    with site(root) as origin, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda m: (
                    m.type in ("error", "warning")
                    and problems.append(f"console {m.type}: {m.text}")
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "requestfailed",
                lambda r: problems.append(f"failed: {r.method} {r.url} {r.failure}"),
            )
            page.on(
                "response",
                lambda r: (
                    r.status >= 400
                    and problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")
                ),
            )
            yield page, origin, problems
        finally:
            browser.close()


def test_posthog_js_captures_into_evana_with_a_clean_console(
    target: Target, tmp_path: Path
) -> None:
    u = users()
    user, event = f"{u}browser", f"bought-{u}"
    shutil.copy(FIXTURES / "posthog-js.array.no-external.js", tmp_path / "posthog.js")
    (tmp_path / "index.html").write_text(
        PAGE % {"key": target.ingest, "host": target.url, "user": user, "event": event}
    )
    with browser_page(tmp_path) as (page, origin, problems):
        page.goto(f"{origin}/index.html")
        page.wait_for_function("window.posthogLoaded === true", timeout=15_000)
        page.click("#buy")
        page.click("#buy")
        rows = target.wait_rows(u, 3, timeout=30)  # posthog-js sends every few seconds
        page.close(run_before_unload=True)
    assert problems == []
    names = sorted(r.event for r in rows)
    assert names == ["$pageview", event, event]
    assert {r.user_id for r in rows} == {user}
    bought = next(r for r in rows if r.event == event)
    assert bought.properties is not None
    assert bought.properties["plan"] == "pro"
    assert bought.properties["$lib"] == "web"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    top = target.report("top-events", since=today, until=today, limit=1000)["events"]
    assert {"event": event, "count": 2, "users": 1} in top


SEGMENT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<script src="/analytics.js"></script></head>
<body><button id="buy">Buy</button>
<script>
  const host = %(host)r.replace(/^https?:\\/\\//, "");
  const analytics = AnalyticsNext.AnalyticsBrowser.load({
    writeKey: %(key)r,
    // Settings inline: nothing is fetched from Segment's CDN.
    cdnSettings: {integrations: {"Segment.io": {
      apiKey: %(key)r, apiHost: host + "/v1", protocol: "http",
    }}},
  });
  analytics.identify(%(user)r, {plan: "pro"});
  analytics.page("Docs", "Pricing");
  document.getElementById("buy").addEventListener("click", () => {
    analytics.track(%(event)r, {price: 12.5});
  });
  analytics.ready(() => { window.segmentReady = true; });
</script></body></html>
"""


def test_analytics_js_sends_into_evana_with_a_clean_console(target: Target, tmp_path: Path) -> None:
    u = users()
    user, event = f"{u}browser", f"Bought {u}"
    shutil.copy(FIXTURES / "analytics-next.umd.js", tmp_path / "analytics.js")
    (tmp_path / "index.html").write_text(
        SEGMENT_PAGE % {"key": target.ingest, "host": target.url, "user": user, "event": event}
    )
    with browser_page(tmp_path) as (page, origin, problems):
        page.goto(f"{origin}/index.html")
        page.wait_for_function("window.segmentReady === true", timeout=15_000)
        page.click("#buy")
        rows = target.wait_rows(u, 3, timeout=30)
    assert problems == []
    by_event = {r.event: r for r in rows}
    assert set(by_event) == {"$identify", "$pageview", event}
    assert {r.user_id for r in rows} == {user}
    assert by_event["$identify"].properties is not None
    assert by_event["$identify"].properties["$set"] == {"plan": "pro"}
    assert by_event["$pageview"].properties is not None
    assert by_event["$pageview"].properties["name"] == "Pricing"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    top = target.report("top-events", since=today, until=today, limit=1000)["events"]
    assert {"event": event, "count": 1, "users": 1} in top
    assert all(row["event"] != "$identify" for row in top)  # a person operation


IDENTIFY_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<script src="/posthog.js"></script></head>
<body><button id="buy">Buy</button><button id="login">Log in</button>
<script>
  posthog.init(%(key)r, {
    api_host: %(host)r,
    autocapture: false,
    capture_pageview: false,
    persistence: "memory",
    opt_out_useragent_filter: true,
    bootstrap: {distinctID: %(anon)r, isIdentifiedID: false},
    loaded: () => { window.posthogLoaded = true; },
  });
  document.getElementById("buy").addEventListener("click", () => posthog.capture(%(event)r));
  document.getElementById("login").addEventListener("click", () => {
    posthog.identify(%(user)r, {plan: "pro"});
  });
</script></body></html>
"""


def test_posthog_js_identify_after_anonymous_events_counts_one_person(
    target: Target, tmp_path: Path
) -> None:
    u = users()
    anon, user, event = f"{u}anon", f"{u}user", f"clicked-{u}"
    shutil.copy(FIXTURES / "posthog-js.array.no-external.js", tmp_path / "posthog.js")
    (tmp_path / "index.html").write_text(
        IDENTIFY_PAGE
        % {"key": target.ingest, "host": target.url, "anon": anon, "user": user, "event": event}
    )
    with browser_page(tmp_path) as (page, origin, problems):
        page.goto(f"{origin}/index.html")
        page.wait_for_function("window.posthogLoaded === true", timeout=15_000)
        page.click("#buy")  # anonymous
        page.click("#login")
        page.click("#buy")  # identified
        rows = target.wait_rows(u, 3, timeout=30)
        page.close(run_before_unload=True)
    assert problems == []
    assert sorted((r.event, r.user_id) for r in rows) == sorted(
        [(event, anon), ("$identify", user), (event, user)]
    )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    top = target.report("top-events", since=today, until=today, limit=1000)["events"]
    assert {"event": event, "count": 2, "users": 1} in top  # one person, two ids
    import httpx

    person = httpx.get(
        f"{target.url}/v1/persons/{anon}", headers={"X-API-Key": target.read}, timeout=30
    ).json()
    assert sorted(person["distinct_ids"]) == [anon, user]
    assert person["properties"]["plan"] == "pro"
