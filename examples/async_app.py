"""An asyncio program that tracks events with ``evana.AsyncClient`` from many tasks at once.

Fifty jobs run concurrently; each tracks a ``job_done`` event when it finishes. ``track`` is
awaited but does not wait for the network: a background task sends the events in batches.

    export EVANA_URL=http://127.0.0.1:8000 EVANA_API_KEY=evana_...
    python examples/async_app.py
"""

from __future__ import annotations

import asyncio
import random

import evana


async def run_job(client: evana.AsyncClient, job: int, user_id: str) -> None:
    """Do some (pretend) work, then record that it was done."""
    seconds = random.uniform(0, 0.05)
    await asyncio.sleep(seconds)
    await client.track("job_done", user_id=user_id, properties={"job": job, "seconds": seconds})


async def main() -> None:
    """Run the jobs, make sure their events are delivered, and print what evana counted."""
    async with evana.AsyncClient() as client:
        await asyncio.gather(*(run_job(client, job, f"team_{job % 5}") for job in range(50)))
        if not await client.flush(timeout=10):
            raise SystemExit("some events were not delivered")
        top = await client.stats.top_events(since="today")
        for row in top.events:
            print(f"{row.event}: {row.count} events by {row.users} users")
        print(f"client: {client.metrics.delivered} delivered, {client.metrics.failed} failed")


if __name__ == "__main__":
    asyncio.run(main())
