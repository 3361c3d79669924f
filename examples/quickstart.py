"""Quickstart: send a few events with ``evana.Client``, then read today's DAU and top events.

Start a server (``evana serve``) and give this script its URL and the admin key it printed::

    export EVANA_URL=http://127.0.0.1:8000 EVANA_API_KEY=evana_...
    python examples/quickstart.py
"""

from __future__ import annotations

import evana


def main() -> None:
    """Track four events, wait until they are delivered, print two reports."""
    # url and api_key come from EVANA_URL and EVANA_API_KEY when not passed.
    with evana.Client() as client:
        for user in ("u_1", "u_2", "u_3"):
            client.track("signup", user_id=user, properties={"plan": "free"})
        client.track("purchase", user_id="u_2", properties={"amount": 9.90})

        # track() only queues; flush() sends now and says whether everything was accepted.
        if not client.flush(timeout=10):
            raise SystemExit("some events were not delivered: is the server up, the key right?")

        today = client.stats.dau(since="today").series[-1]
        print(f"DAU on {today.date}: {today.users}")
        for row in client.stats.top_events(since="today").events:
            print(f"{row.event}: {row.count} events by {row.users} users")


if __name__ == "__main__":
    main()
