"""The upload step: a file's clips from the local folder its processing staged them in, into the output.

A worker process makes a file's clips and writes them into a staging folder on this machine (a
`LocalSink` under the output's key layout); the upload step then moves them into the output. So the
upload is its own step, with its own retries, that a person sees per file, and a failed upload is
tried again without rendering anything again. It costs little: for a folder output the staging
folder lies inside the output folder (`.staging/`, which no listing shows), and moving a clip in is
a rename, the bytes written once; for S3 the clip is read back from this machine's disk (its page
cache, usually) and PUT, several at once, as the worker did before.

A staged file is complete (the staging sink writes atomically), and it is deleted once it is in the
output: what is left in the folder is what has not arrived yet, which is what a retry moves.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .naming import day_folder
from .sinks import LocalSink, Sink

STAGING_FOLDER = ".staging"
"""A folder output's staging folder, inside it: on the same filesystem, so a clip is moved in by a
rename; hidden, so no listing of the output shows it (`LocalSink.keys`)."""


@dataclass(frozen=True)
class Staging:
    """Where one unit's processing writes its clips for the upload step: a folder on this machine,
    and the output's key prefix (the keys are the output's keys)."""

    folder: str
    prefix: str

    def sink(self) -> LocalSink:
        return LocalSink(self.folder, self.prefix)


@dataclass(frozen=True)
class Staged:
    """What one unit's processing left in its staging folder: the upload task's one parameter."""

    name: str
    """The unit's key (its file's name, or a repair's): the task run's name says which file it is."""
    folder: str
    objects: tuple[tuple[str, str, str], ...]
    """(sample ID, key, content type) of each object, each clip's WAV before its image."""
    present: int = 0
    """The unit's clips found in the output already, which nothing had to move."""

    @property
    def clips(self) -> int:
        return len({sid for sid, _, _ in self.objects})


@dataclass
class Uploaded:
    """What an upload moved into the output."""

    objects: int = 0
    bytes: int = 0
    present: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """Sample ID -> the error of a clip whose objects did not all arrive."""
    seconds: float = 0.0

    def describe(self, name: str) -> str:
        line = (f"{name}: {self.objects} objects ({self.bytes / 1e6:.1f} MB) uploaded, "
                f"{self.present} clips already present")
        if self.failed:
            line += f"; {len(self.failed)} clips not uploaded, first: {next(iter(self.failed.values()))}"
        return line


def upload(staged: Staged, sink: Sink) -> Uploaded:
    """Move each staged clip's objects into `sink`, its WAV first: the image is what a volunteer sees,
    so it appears only with its sound beside it. A clip whose staged objects are gone already (an
    earlier attempt moved them) counts as uploaded. Once every clip is in, the folder is removed;
    after a failure it stays, holding what has not arrived."""
    t0 = time.perf_counter()
    root = Path(staged.folder)
    by_clip: dict[str, list[tuple[str, str]]] = {}
    for sid, key, content_type in staged.objects:
        by_clip.setdefault(sid, []).append((key, content_type))

    def move(item: tuple[str, list[tuple[str, str]]]) -> tuple[str, int, int, str | None]:
        sid, objects = item
        moved = size = 0
        for key, content_type in objects:
            path = root / key
            if not path.exists():
                continue
            n = path.stat().st_size
            try:
                _move_in(sink, key, path, content_type)
            except Exception as e:
                return sid, moved, size, f"{type(e).__name__}: {e}"
            moved, size = moved + 1, size + n
        return sid, moved, size, None

    out = Uploaded(present=staged.present)
    workers = max(1, sink.concurrency)
    if workers == 1:
        _settle(out, map(move, by_clip.items()))
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="upload") as pool:
            _settle(out, pool.map(move, by_clip.items()))
    if not out.failed:
        shutil.rmtree(root, ignore_errors=True)
    out.seconds = time.perf_counter() - t0
    return out


def _settle(out: Uploaded, outcomes: Iterator[tuple[str, int, int, str | None]]) -> None:
    for sid, moved, size, error in outcomes:
        out.objects += moved
        out.bytes += size
        if error is not None:
            out.failed[sid] = error


def _move_in(sink: Sink, key: str, path: Path, content_type: str) -> None:
    if isinstance(sink, LocalSink):
        sink.move_in(key, path)
        return
    sink.put(key, path.read_bytes(), content_type)
    path.unlink()


def not_arrived(staged: Staged) -> set[str]:
    """The clips some of whose objects are still staged: after an upload that failed for good, the
    ones the output lacks."""
    root = Path(staged.folder)
    return {sid for sid, key, _ in staged.objects if (root / key).exists()}


def discard(folder: str | Path) -> None:
    """A staging folder and whatever is left in it."""
    shutil.rmtree(folder, ignore_errors=True)


def end_day_run(folder: Path) -> None:
    """A day run's staging folder removed, and the staging root too once no run uses it."""
    discard(folder)
    try:
        folder.parent.rmdir()
    except OSError:  # another day's run stages there, or it is gone already
        pass


def staging_root(output_folder: str | None, cache: str | Path) -> Path:
    """Where a run stages: inside a folder output (moved in by a rename), else in the download cache."""
    return Path(output_folder) / STAGING_FOLDER if output_folder else Path(cache) / "staging"


def day_run_folder(root: Path, node: str, day: dt.date) -> Path:
    """A fresh staging folder for one day run. What earlier runs of the same day left there (a run
    killed before its end) is removed first: two runs of one day at once are refused elsewhere (a
    deployment's idempotency key), and would overwrite each other's clips anyway."""
    for stale in root.glob(f"{node}_{day_folder(day)}_*"):
        discard(stale)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{node}_{day_folder(day)}_", dir=root))
