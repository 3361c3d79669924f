"""HTTP routes: thin functions that parse, call one service, and return a wire model."""

from . import events, health, keys, metrics, stats, users

__all__ = ["events", "health", "keys", "metrics", "stats", "users"]
