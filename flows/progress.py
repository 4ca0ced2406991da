"""Progress of a day: a Prefect progress artifact for the UI, and listeners in this process (the CLI's bar).

The day flow runs in the process of whoever called it, so a terminal that started it can listen in
without polling the API; a deployment run simply has no listener.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from whaledr_core.fileclips import FileResult


@dataclass
class Event:
    kind: str
    """"start", "file" or "end"."""
    done: int
    total: int
    clips: int = 0
    result: FileResult | None = None
    label: str = ""


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


class DayProgress:
    UPDATE_SECONDS = 2.0
    """The UI's artifact is updated at most this often: each update is an API call the server must
    handle on the same cores as the workers. In-process listeners hear every file."""

    def __init__(self, total: int, label: str) -> None:
        """`label` names the day ("LJ01D 2019-01-12") in the UI's artifact and on the terminal's bar."""
        self.total, self.done, self.clips, self.label = total, 0, 0, label
        self._artifact = cast(UUID, create_progress_artifact(0.0, description=self._description()))
        self._sent = time.monotonic()
        self._emit(Event("start", 0, total, label=label))

    def file_done(self, result: FileResult) -> FileResult:
        self.done += 1
        self.clips += len(result.clips)
        if time.monotonic() - self._sent >= self.UPDATE_SECONDS:
            self._update()
        self._emit(Event("file", self.done, self.total, self.clips, result))
        return result

    def _percent(self) -> float:
        return 100.0 * self.done / max(self.total, 1)

    def _description(self) -> str:
        """The run's Artifacts tab shows the description, not the figure: it carries the figure."""
        percent = f"{self._percent():.0f} %"
        return f"{self.label}: {self.done} of {self.total} files processed ({percent}), {self.clips} clips"

    def _update(self) -> None:
        update_progress_artifact(self._artifact, self._percent(), description=self._description())
        self._sent = time.monotonic()

    def finish(self) -> None:
        self._update()
        self._emit(Event("end", self.done, self.total, self.clips))

    @staticmethod
    def _emit(event: Event) -> None:
        for listener in list(_listeners):
            listener(event)
