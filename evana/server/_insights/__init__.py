"""Insights (DESIGN.md "Insights"): one module per kind of query."""
