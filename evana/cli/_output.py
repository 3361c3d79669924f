"""Rendering for every command: Rich tables for people, JSON and CSV for programs.

Tables are fitted to the console's width (``COLUMNS``, else the terminal's): a table whose
columns cannot fit without cutting a word or a number is never cropped; it is printed as one
block of ``column: value`` lines per row instead (:func:`print_table`).
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Format", "console", "err_console", "fits", "print_csv", "print_json", "print_table"]

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


def fits(table: Table, width: int | None = None) -> bool:
    """Whether ``table`` fits ``width`` (the console's by default) without cutting a word:
    its narrowest layout, every cell wrapped at spaces only, is no wider.

    >>> from rich.table import Table
    >>> table = Table("count"); table.add_row("9,147")
    >>> fits(table, 40), fits(table, 8)
    (True, False)
    """
    from rich.measure import Measurement

    width = console.width if width is None else width
    # Measured unbounded: a measurement is clamped to the width it is given.
    options = console.options.update_width(1_000_000)
    return Measurement.get(console, options, table).minimum <= width


def print_table(table: Table) -> None:
    """Print ``table`` at the console's width; when it cannot fit, each row as a block of
    ``column: value`` lines (all of every cell, nothing cropped).

    >>> from rich.table import Table
    >>> table = Table("key_id", "scope", title="API keys"); table.add_row("3f9c2a1b7d4e", "read")
    >>> console.width = 12
    >>> print_table(table)
    API keys
    <BLANKLINE>
    key_id: 3f9c2a1b7d4e
    scope: read
    >>> console.width = 80
    """
    if fits(table):
        console.print(table)
        return
    from rich.text import Text

    headers = [str(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    if table.title:
        console.print(table.title, soft_wrap=True)
    for index in range(table.row_count):
        console.print()
        for header, column in zip(headers, cells, strict=True):
            value = column[index]
            text = value.plain if isinstance(value, Text) else str(value)
            console.print(f"{header}: {text}", soft_wrap=True, highlight=False, markup=False)
