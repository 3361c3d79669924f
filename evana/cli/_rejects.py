"""Where ``evana ingest`` writes rejected lines: one ``{"line", "error", "raw"}`` JSON object each.

By default each input gets ``<input>.rejects.jsonl`` beside it, and stdin gets
``stdin.rejects.jsonl`` in the current directory. With ``--rejects PATH`` every reject goes to that
one file; when several inputs share it, each record also names its ``"file"``. A file is created
(or overwritten) only when its input has a reject, so a clean run leaves nothing behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from ._errors import CliError
from ._jsonlines import Source, raw_text
from ._pipeline import Origin

__all__ = ["STDIN_REJECTS", "RejectsLog"]

#: The rejects file of stdin, in the current directory.
STDIN_REJECTS = "stdin.rejects.jsonl"
#: Rejects kept in memory for the summary on the terminal (all of them go to the file).
SHOWN = 10


class RejectsLog:
    """Writes rejects as they come; remembers the first few for the summary.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "events.rejects.jsonl"
    >>> log = RejectsLog([Source("-")], path)
    >>> log.write(Origin(0, 3, b'{"event": ""}\\n'), "event: too short")
    >>> log.close(); log.paths == [str(path)]
    True
    >>> path.read_text()
    '{"line": 3, "error": "event: too short", "raw": "{\\\\"event\\\\": \\\\"\\\\"}"}\\n'
    """

    def __init__(self, sources: list[Source], path: Path | None = None) -> None:
        self._sources = sources
        self._shared = path
        self._files: dict[Path, IO[str]] = {}
        self.first: list[tuple[str, int, str]] = []

    def path_of(self, source: int) -> Path:
        """The rejects file of input number ``source``."""
        if self._shared is not None:
            return self._shared
        name = self._sources[source].name
        return Path(STDIN_REJECTS) if name == "-" else Path(name + ".rejects.jsonl")

    def write(self, origin: Origin, error: str) -> None:
        """Record one rejected line."""
        path = self.path_of(origin.source)
        out = self._files.get(path)
        if out is None:
            try:
                out = self._files[path] = path.open("w", encoding="utf-8")
            except OSError as exc:
                raise CliError(f"cannot write rejects to {path}: {exc.strerror or exc}") from None
        record: dict[str, object] = {
            "line": origin.line,
            "error": error,
            "raw": raw_text(origin.raw),
        }
        label = self._sources[origin.source].label
        if self._shared is not None and len(self._sources) > 1:
            record["file"] = label
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if len(self.first) < SHOWN:
            self.first.append((label, origin.line, error))

    @property
    def paths(self) -> list[str]:
        """The rejects files written to."""
        return [str(path) for path in self._files]

    def close(self) -> None:
        """Close every rejects file."""
        for out in self._files.values():
            out.close()
