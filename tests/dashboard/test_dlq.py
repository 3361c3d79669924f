"""The dead-letter queue over HTTP and in the dashboard, in production mode: a real ``evana
serve`` and ``evana worker`` on PostgreSQL and NATS JetStream, a poison event dead-lettered,
listed, shown and replayed from the browser."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from evana.server._batch import NormalizedEvent
from evana.server._queue import Batch, Names
from evana.server._queue._codec import encode
from tests._evana import evana_serve
from tests.server._pipeline import evana_worker, make_events, wait_until

from .conftest import IMAGES, chromium, open_page, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_dead_letters_listed_shown_and_replayed_from_the_dashboard(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
    }
    good = make_events(5, seed=3)
    poison = NormalizedEvent(
        uuid.UUID(int=7, version=4),
        "signup",
        "bad\x00user",  # PostgreSQL text cannot hold NUL (the API would have refused it)
        good[0].timestamp,
        None,
        good[0].received_at,
    )

    async def publish() -> None:
        nc = await nats.connect(nats_url)
        for part in encode(Batch.of([*good, poison]), 1 << 20):
            await nc.jetstream().publish(Names.of(nats_prefix).ingest_subject, part)
        await nc.close()

    with evana_serve(tmp_path, env) as api, evana_worker(env):
        assert api.admin_key
        headers = {"X-API-Key": api.admin_key}

        def entries() -> list[dict[str, Any]]:
            answer = httpx.get(f"{api.url}/v1/dlq", headers=headers, timeout=30).json()
            assert answer["enabled"] is True
            return list(answer["entries"])

        assert entries() == []
        asyncio.run(publish())
        wait_until(lambda: len(entries()) == 1, 30)
        [letter] = entries()
        assert (letter["events"], letter["attempts"]) == (1, 1)

        with chromium() as browser:
            watched = open_page(browser)
            page = watched.page
            sign_in(page, api.url, api.admin_key)
            page.click("#nav >> text=Dead letters")
            row = page.locator(f'#dlq-table tbody tr[data-id="{letter["id"]}"]')
            row.wait_for()
            assert row.locator("td").nth(1).inner_text() == "1"
            row.locator("a").click()
            page.wait_for_url(f"**/#/dlq?entry={letter['id']}")
            page.wait_for_selector(f"#dlq-entry h2:has-text('Dead letter {letter['id']}')")
            assert "bad\\u0000user" in page.inner_text("#dlq-entry pre")
            IMAGES.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(IMAGES / "dashboard-dlq.png"))
            page.click("#replay")
            page.click("dialog button.danger")
            page.wait_for_url(lambda url: "entry=" not in url)
            # Replayed: the entry is gone; the poison fails again and comes back as a new one.
            wait_until(lambda: [e["id"] for e in entries()] not in ([], [letter["id"]]), 30)
            [again] = entries()
            assert again["id"] > letter["id"]
            assert watched.outside == []
            assert watched.errors == []
        # Without a valid key: 401; an entry that no longer exists: 404.
        read = httpx.get(f"{api.url}/v1/dlq", headers={"X-API-Key": "evana_x"})
        assert read.status_code == 401
        gone = httpx.post(f"{api.url}/v1/dlq/{letter['id']}/replay", headers=headers)
        assert gone.status_code == 404
        assert "no dead letter" in gone.json()["detail"]
