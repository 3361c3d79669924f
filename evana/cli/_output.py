"""Rendering for every command: Rich tables for people, JSON and CSV for programs."""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console

__all__ = ["Format", "console", "err_console", "print_csv", "print_json"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class Format(enum.StrEnum):
    """Output formats of report commands."""

    table = "table"
    json = "json"
    csv = "csv"


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout, plain (no colour, no wrapping), for programs."""
    console.file.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    console.file.flush()


def print_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a header row then ``rows`` as CSV on stdout."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    console.file.write(buffer.getvalue())
    console.file.flush()
