"""HTTP routes: thin functions that parse, call one service, and return a wire model."""

from . import browse, dlq, events, health, keys, metrics, posthog, query, segment, stats, users

__all__ = [
    "browse",
    "dlq",
    "events",
    "health",
    "keys",
    "metrics",
    "posthog",
    "query",
    "segment",
    "stats",
    "users",
]
