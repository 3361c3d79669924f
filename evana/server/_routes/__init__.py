"""HTTP routes: thin functions that parse, call one service, and return a wire model."""

from . import browse, dlq, events, health, keys, metrics, posthog, segment, stats, users

__all__ = [
    "browse",
    "dlq",
    "events",
    "health",
    "keys",
    "metrics",
    "posthog",
    "segment",
    "stats",
    "users",
]
