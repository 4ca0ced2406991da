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
    """Clips stored so far."""
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
        self.total, self.done, self.label = total, 0, label
        self.again = self.again_done = 0
        """A top budget's second pass: files read again to store the chosen clips, and how many are done."""
        self.scored = self.stored = 0
        self.published: int | None = None
        self._artifact = cast(UUID, create_progress_artifact(0.0, description=self._description()))
        self._sent = time.monotonic()
        self._emit(Event("start", 0, total, label=label))

    def file_done(self, result: FileResult) -> FileResult:
        """A file of the first (or only) pass: its windows scored, its clips stored (none yet, when a
        top budget stores the chosen clips in a second pass)."""
        self.done += 1
        self.scored += len(result.scores)
        self.stored += len(result.clips)
        self._progressed(result)
        return result

    def storing(self, files: int) -> Storing:
        """The second pass of a top budget: `files` files read again to store the chosen clips."""
        self.again = files
        return Storing(self)

    def _progressed(self, result: FileResult) -> None:
        if time.monotonic() - self._sent >= self.UPDATE_SECONDS:
            self._update()
        self._emit(Event("file", self.done + self.again_done, self.total + self.again, self.stored, result))

    def _percent(self) -> float:
        return 100.0 * (self.done + self.again_done) / max(self.total + self.again, 1)

    def _description(self) -> str:
        """The run's Artifacts tab shows the description, not the figure: it carries the figure, and
        what the day has come to so far: windows scored, clips stored, and at the end clips published."""
        files = f"{self.done} of {self.total} files"
        files += f" scored, {self.again_done} of {self.again} read again to store the chosen clips" if self.again \
            else " done"
        published = f", {self.published} published" if self.published is not None else ""
        return (f"{self.label}: {files} ({self._percent():.0f} %): {self.scored} windows scored, "
                f"{self.stored} clips stored{published}")

    def _update(self) -> None:
        update_progress_artifact(self._artifact, self._percent(), description=self._description())
        self._sent = time.monotonic()

    def finish(self, record: dict | None = None) -> None:
        """The last figures are the day manifest's `record`, when there is one: what was stored and published."""
        if record is not None:
            self.scored, self.stored = len(record["scores"]), record["totals"]["clips"]
            self.published = record["totals"]["published"]
        self._update()
        self._emit(Event("end", self.done + self.again_done, self.total + self.again, self.stored))

    @staticmethod
    def _emit(event: Event) -> None:
        for listener in list(_listeners):
            listener(event)


class Storing:
    """The progress of a second pass: each file read again adds the clips it stored."""

    def __init__(self, day: DayProgress) -> None:
        self.day = day

    def file_done(self, result: FileResult) -> FileResult:
        self.day.again_done += 1
        self.day.stored += result.written
        self.day._progressed(result)
        return result
