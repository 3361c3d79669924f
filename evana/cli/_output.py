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

__all__ = [
    "FOLD_MIN",
    "Format",
    "console",
    "err_console",
    "fits",
    "needed",
    "print_csv",
    "print_json",
    "print_table",
]

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


#: The narrowest a folding column (``overflow="fold"``: names, messages) is allowed to get.
FOLD_MIN = 10


def needed(table: Table) -> int:
    """The narrowest ``table`` can be without cutting a number: every cell wrapped at spaces
    only, except in folding columns (long names), which may fold down to :data:`FOLD_MIN`.

    >>> from rich.table import Table
    >>> table = Table("count"); table.add_row("19,147")
    >>> needed(table)  # 6 characters, a space of padding each side, two edges
    10
    """
    # Measured unbounded (a measurement is clamped to the width it is given), column by column,
    # with Rich's own measure of a column (its padding included) and of the table's edges.
    options = console.options.update_width(1_000_000)
    total = table._extra_width
    for column in table.columns:
        least = table._measure_column(console, options, column).minimum
        if column.overflow == "fold":
            least = min(least, FOLD_MIN + table.padding[1] + table.padding[3])
        total += least
    return max(total, table.min_width or 0)


def fits(table: Table, width: int | None = None) -> bool:
    """Whether ``table`` fits ``width`` (the console's by default) without cutting a number.

    >>> from rich.table import Table
    >>> table = Table("count"); table.add_row("9,147")
    >>> fits(table, 40), fits(table, 8)
    (True, False)
    """
    return needed(table) <= (console.width if width is None else width)


def print_table(table: Table) -> None:
    """Print ``table`` at the console's width; when it cannot fit, each row as a block of
    ``column: value`` lines (all of every cell, nothing cropped).

    A 20-column screen gets::

        API keys
        (too wide for 20
        columns: one block
        per row)

        key_id: 3f9c2a1b7d4e
        scope: read
    """
    if fits(table):
        console.print(table)
        return
    from rich.text import Text

    headers = [str(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    if table.title:
        console.print(Text(str(table.title)), overflow="fold")
    console.print(
        Text(f"(too wide for {console.width} columns: one block per row)", style="dim"),
        overflow="fold",
    )
    for index in range(table.row_count):
        console.print()
        for header, column in zip(headers, cells, strict=True):
            value = column[index]
            text = value.plain if isinstance(value, Text) else str(value)
            # Wrapped at spaces (a value too long for a line of its own folds).
            console.print(Text(f"{header}: {text}"), overflow="fold")
