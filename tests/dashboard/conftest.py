"""A real ``evana serve`` with seeded data, and real headless Chromium driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``; CI installs it): Playwright only drives it, nothing
is downloaded. Every page records requests to any host but 127.0.0.1 (and aborts them) and its
console errors; tests assert both stay empty.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._evana import ServerProcess, evana_serve, run_evana

CHROMIUM = os.environ.get("EVANA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The seeded weeks: every view is opened on exactly this range.
SINCE, UNTIL = dt.date(2026, 10, 1), dt.date(2026, 10, 28)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def seed_events() -> list[dict[str, Any]]:
    """Four weeks of a small product: users arrive over time, many come back, some leave,
    some buy."""
    rows = []
    namespace = uuid.UUID("6f1c0a52-3c43-4f8e-9d0e-5b7f2a1d9c10")
    for user in range(60):
        first = user % 26
        for day in range(first, 28):
            if (user * 7 + day * 3) % 5 >= (2 if user % 3 else 3):
                continue
            if user % 3 == 0 and day > first + 9:
                continue  # a third of the users leave after ten days
            if user % 4 == 1 and day > first + 3 and (day - first) // 7 % 2:
                continue  # a quarter come back every other week only
            when = dt.datetime.combine(
                SINCE + dt.timedelta(days=day), dt.time(9 + user % 10, user % 60), dt.UTC
            )
            names = (
                ["page_view"]
                + (["signup"] if day == first else [])
                + (["purchase"] if (user + day) % 9 == 0 else [])
            )
            for n, name in enumerate(names):
                stamp = when + dt.timedelta(minutes=n)
                rows.append(
                    {
                        "event_id": str(uuid.uuid5(namespace, f"{user}-{day}-{name}")),
                        "event": name,
                        "user_id": f"user_{user:02d}",
                        "timestamp": stamp.isoformat().replace("+00:00", "Z"),
                        "properties": {"plan": "pro" if user % 4 == 0 else "free"},
                    }
                )
    # One heavy user, whose events fill more than one page of the person view.
    for day in range(28):
        for hour in (8, 12, 18):
            when = dt.datetime.combine(SINCE + dt.timedelta(days=day), dt.time(hour), dt.UTC)
            rows.append(
                {
                    "event_id": str(uuid.uuid5(namespace, f"power-{day}-{hour}")),
                    "event": "page_view",
                    "user_id": "user_power",
                    "timestamp": when.isoformat().replace("+00:00", "Z"),
                }
            )
    return rows


@dataclass
class Seeded:
    """The running server, its keys and what it was sent."""

    server: ServerProcess
    admin_key: str
    read_key: str
    ingest_key: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.url}{path}", params=params, headers={"X-API-Key": self.admin_key}, timeout=10
        )
        response.raise_for_status()
        return response.json()


def _make_key(cwd: Path, scope: str) -> str:
    done = run_evana(
        "keys", "create", "--scope", scope, "--name", f"{scope} test", "--format", "json", cwd=cwd
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return str(json.loads(done.stdout)["key"])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    cwd = tmp_path_factory.mktemp("dashboard")
    with evana_serve(cwd) as server:
        assert server.admin_key, "".join(server.output)
        events = seed_events()
        for start in range(0, len(events), 500):
            response = httpx.post(
                f"{server.url}/v1/events",
                json={"events": events[start : start + 500]},
                headers={"X-API-Key": server.admin_key},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            assert not response.json()["rejected"], response.text
        yield Seeded(
            server, server.admin_key, _make_key(cwd, "read"), _make_key(cwd, "ingest"), events
        )


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium, driven by Playwright's sync API.

    While it runs, this thread has a running event loop, so ``asyncio.run`` cannot be called:
    tests that need asyncio (NATS) do that before or after.
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (CI installs Debian's chromium package)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@dataclass
class Watched:
    """A page with what it asked of other hosts and what it logged as errors."""

    page: Any
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_page(browser: Any, width: int = 1280, height: int = 900, scheme: str = "light") -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = context.new_page()
    watched = Watched(page)

    def gate(route: Any) -> None:
        host = httpx.URL(route.request.url).host
        if host == "127.0.0.1" or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            watched.outside.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(f"uncaught: {e}"))
    return watched


@pytest.fixture
def tab(browser: Any) -> Iterator[Watched]:
    """A 1280 px page that must make no outside request and log no error."""
    watched = open_page(browser)
    yield watched
    watched.page.context.close()
    assert watched.outside == [], "requests left 127.0.0.1"
    assert watched.errors == [], "console errors"


def sign_in(page: Any, url: str, key: str, hash_: str = "") -> None:
    page.goto(f"{url}/signin{hash_}")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/#/**")
    page.wait_for_selector("#who:not(:empty)")
