"""``evana ingest``'s progress bar on stderr: bytes read, events, events/s and, when the size is
known, an ETA. It is drawn only on a terminal: piped or redirected, the output stays clean.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from ._output import err_console
from ._words import counted

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, Task, TaskID
    from rich.text import Text

__all__ = ["IngestProgress", "wanted"]


def wanted(flag: bool | None) -> bool:
    """Whether to draw the bar: as asked, else only when stderr is a terminal.

    >>> wanted(False)
    False
    """
    return err_console.is_terminal if flag is None else flag


def _columns(sized: bool) -> list[ProgressColumn]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import ProgressColumn as Column
    from rich.text import Text

    class EventsColumn(Column):
        """Events read, and their rate over the whole run (steadier than Rich's window)."""

        def render(self, task: Task) -> Text:
            events = int(task.fields.get("events", 0))
            elapsed = task.elapsed or 0.0
            rate = f"{events / elapsed:,.0f}" if elapsed > 0 else "-"
            return Text(f"{counted(events, 'event')} · {rate}/s", style="progress.data.speed")

    head: list[ProgressColumn] = [TextColumn("[bold]{task.description}"), BarColumn(bar_width=16)]
    if not sized:  # stdin: no size, so no percentage, bytes or ETA, only how long so far
        return [*head, EventsColumn(), TimeElapsedColumn()]
    return [*head, TaskProgressColumn(), DownloadColumn(), EventsColumn(), TimeRemainingColumn()]


class IngestProgress:
    """A bar over ``total`` bytes (None: unknown, no ETA); does nothing when not ``enabled``.

    >>> with IngestProgress(False, 100) as bar:
    ...     bar.update(50, 10)
    """

    def __init__(self, enabled: bool, total: int | None, description: str = "ingest") -> None:
        self._enabled = enabled
        self._total = total
        self._description = description
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> IngestProgress:
        if self._enabled:
            from rich.progress import Progress

            self._progress = Progress(
                *_columns(self._total is not None),
                console=err_console,
                transient=True,
                refresh_per_second=5,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total, events=0)
        return self

    def update(self, position: int | None, events: int) -> None:
        """Bytes of input consumed so far (None: unknown) and events read."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=position or 0, events=events)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
