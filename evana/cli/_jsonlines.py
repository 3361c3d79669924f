"""JSON lines from files (plain or gzip) or stdin, one at a time, numbered, in flat memory.

Lines are read one by one through a buffered stream, and a line longer than
:data:`MAX_LINE_BYTES` is skipped in chunks (and reported by ``_judge``) instead of being held
whole. Gzip is recognised by its magic bytes, not by the file name, so ``-`` reads a gzip stream
too.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from ._errors import CliError

__all__ = ["MAX_LINE_BYTES", "Source", "TooLong", "raw_text", "read_lines"]

#: Longer lines are rejected unread: an event is at most ~33 KiB (32 KiB of properties).
MAX_LINE_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class TooLong(bytes):
    """The first bytes of a line over :data:`MAX_LINE_BYTES`, standing in for the whole line."""


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for every line of ``stream``, numbered from 1, blank ones included.

    >>> import io
    >>> list(read_lines(io.BytesIO(b'{"a": 1}\\n\\n{"b": 2}')))
    [(1, b'{"a": 1}\\n'), (2, b'\\n'), (3, b'{"b": 2}')]
    """
    readline = stream.readline
    number = 0
    while line := readline(MAX_LINE_BYTES):
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
            # Skip the rest of the line chunk by chunk: it is never held whole.
            while (rest := readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            line = TooLong(line[:200])
        yield number, line


def raw_text(line: bytes) -> str:
    """A line as text for the rejects file: no line ending, undecodable bytes as U+FFFD.

    >>> raw_text(b'{"event": 1}\\r\\n')
    '{"event": 1}'
    """
    text = line.rstrip(b"\r\n").decode("utf-8", "replace")
    return text + "…" if isinstance(line, TooLong) else text


class Source:
    """One input: a path, or ``-`` for stdin; knows its size and how much of it was read.

    >>> Source("-").label, Source("-").size
    ('stdin', None)
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = "stdin" if name == "-" else name
        self.size: int | None = None
        self._raw: BinaryIO | None = None
        self._gzip = False
        if name != "-":
            try:
                info = os.stat(name)
            except OSError as exc:
                raise CliError(f"cannot read {name}: {exc.strerror or exc}") from None
            if stat.S_ISDIR(info.st_mode):
                raise CliError(f"cannot read {name}: it is a directory")
            if stat.S_ISREG(info.st_mode):
                self.size = info.st_size

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """The decompressed byte stream of this input (gzip recognised by its magic bytes)."""
        with contextlib.ExitStack() as stack:
            if self.name == "-":
                raw: Any = sys.stdin.buffer
                if sys.stdin.isatty():  # nothing piped in: say what the silence is waiting for
                    print(  # noqa: T201 - Rich would not add anything to one hint on stderr
                        "evana: reading events from the terminal, one JSON object per line;"
                        " end with Ctrl-D",
                        file=sys.stderr,
                    )
            else:
                try:
                    raw = stack.enter_context(open(self.name, "rb"))
                except OSError as exc:
                    raise CliError(f"cannot read {self.name}: {exc.strerror or exc}") from None
            if not hasattr(raw, "peek"):  # e.g. a BytesIO standing in for stdin
                raw = io.BufferedReader(raw)
            self._raw = raw
            self._gzip = raw.peek(2)[:2] == _GZIP_MAGIC
            if self._gzip:
                unzipped = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
                yield cast(BinaryIO, unzipped)
            else:
                yield raw

    def lines(self, stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
        """:func:`read_lines` of this input's ``stream``; a broken input is a one-line error."""
        try:
            yield from read_lines(stream)
        except (OSError, EOFError, zlib.error) as exc:
            kind = "gzip data" if self._gzip else "input"
            raise CliError(f"cannot read {self.label}: broken {kind} ({exc})") from None

    def position(self) -> int | None:
        """Bytes of the input consumed so far (compressed bytes for gzip), when it can tell."""
        if self._raw is None or self.size is None:
            return None
        try:
            return self._raw.tell()
        except (OSError, ValueError):  # closed, or not seekable after all
            return self.size
