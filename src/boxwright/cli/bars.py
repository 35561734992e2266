"""Live progress bars drawn by rich on a terminal: one bar per item, with size, speed and time
left. The only module that imports ``rich.progress``; :class:`boxwright.cli.output.RichProgress`
imports it when it starts, so a piped or quiet run never loads rich.

Descriptions are shown as given (``markup=False``): callers escape them first.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class LiveBars:
    """rich's ``Progress`` with boxwright's columns, writing to ``stream``."""

    def __init__(self, stream: IO[str], *, force_terminal: bool | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=False),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream, force_terminal=force_terminal),
            transient=False,
        )

    def add(self, description: str, total: int | None) -> TaskID:
        """A new bar; its id for :meth:`update`."""
        return self._progress.add_task(description, total=total)

    def update(
        self, task: TaskID, *, completed: int | None, total: int | None, description: str | None
    ) -> None:
        """Move a bar to ``completed`` of ``total``, with a new description when one is given."""
        self._progress.update(task, completed=completed, total=total, description=description)

    def start(self) -> None:
        self._progress.start()

    def stop(self) -> None:
        self._progress.stop()


__all__ = ["LiveBars"]
