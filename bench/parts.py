"""Where a clip's time goes: py-spy's samples of every process of a run, sorted into the same parts
for the flow and for the core alone.

py-spy (`record --format raw --subprocesses`) writes one line per distinct stack: the processes from
the one it started down to the sampled one, then the frames from the outermost in, then a count. A
sample belongs to the first part (in PARTS order) that one of its frames names. Samples of threads
that wait (a select, a lock, a queue) are dropped: in this VM py-spy's own idle detection lets some
through, and a waiting thread costs no core time.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode", ("read_file (whaledr_core/clips.py",)),
    ("score", ("clip_responses (", "file_scores (", "file_floor (", "window_column (",
               "_floor (whaledr_core/fileclips")),
    ("spectrogram", ("spectrogram_db (",)),
    ("scaling", ("to_levels (", "db_limits (", "_levels (whaledr_core", "floor_levels (")),
    ("image encode", ("encode_image (",)),
    ("wav encode", ("wav_bytes (",)),
    ("upload (moves staged clips into the output)", ("upload (whaledr_core/upload.py",)),
    ("writes (syscalls, page cache)", ("LocalSink.put", "S3Sink.put", "_put_all (")),
    ("download", ("local_copy (",)),
    ("rest of process_file", ("process_file (",)),
    ("transfer between processes", ("pickle", "multiprocessing/connection", "_sendback_result", "loads (", "dumps (",
                                    "_ForkingPickler", "multiprocessing/queues")),
    ("process start, imports", ("importlib", "spawn_main (multiprocessing/spawn.py:1", "_fixup_main")),
)
SERVER = "Prefect server (API, database, events)"
ORCHESTRATION = "Prefect task orchestration and logging"
OTHER = "other"
WAITS = ("select (", ".wait (", "poll (", "sleep (", "acquire (", "_wait_for_tstate_lock", "Queue.get (", "accept (",
         "epoll", "Event.wait")


def part(stack: str, process: str) -> str | None:
    """The part a sample belongs to; None for a thread that waits."""
    frames = stack.split(";")
    if frames and any(w in frames[-1] for w in WAITS):
        return None
    for name, keys in PARTS:
        if any(k in f for f in frames for k in keys):
            return name
    if "uvicorn" in process:
        return SERVER
    if "prefect/" in stack or "httpx" in stack or "anyio" in stack or "logging/" in stack:
        return ORCHESTRATION
    return OTHER


def samples(raw: Path) -> collections.Counter[str]:
    """Samples per part in a py-spy raw file."""
    out: collections.Counter[str] = collections.Counter()
    for line in _records(raw.read_text(errors="replace")):
        stack, _, count = line.rpartition(" ")
        processes = re.findall(r'process \d+:"([^"]*)"', stack)
        frames = ";".join(f for f in stack.split(";") if not f.startswith("process "))
        name = part(frames, processes[-1] if processes else "")
        if name is not None:
            out[name] += int(count)
    return out


_WHOLE = re.compile(r'[)"] \d+$')
"""A whole sample ends in its last frame, `name (file:line)` or a process's quoted name, then its count."""


def _records(text: str) -> list[str]:
    """The lines of py-spy's raw output, each `stack count`. A process name or frame may hold a line
    break (seen: a carriage return and a broken line in the Prefect server's name), so a line that does
    not end as a whole sample, with its quotes closed, is joined to the lines that follow it until one
    does. A break after `--port 4200` ends in digits too, but not in a frame."""
    out, held = [], ""
    for line in text.splitlines():
        held += line
        if _WHOLE.search(held) and held.count('"') % 2 == 0:
            out.append(held)
            held = ""
    return out


def record(cmd: list[str], raw: Path, env: dict[str, str], cwd: Path, rate: int = 100) -> subprocess.CompletedProcess:
    """Run `cmd` under py-spy, with its child processes, into `raw`."""
    beside = Path(sys.executable).parent / "py-spy"  # a venv's, when its bin folder is not on PATH
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy (it is in the test extra)")
    return subprocess.run([spy, "record", "--format", "raw", "--subprocesses", "--nonblocking", "--rate", str(rate),
                           "-o", str(raw), "--", *cmd], capture_output=True, text=True, env=env, cwd=cwd)


def per_clip(small: collections.Counter[str], large: collections.Counter[str], clips: int,
             core_ms_per_clip: float) -> dict[str, float]:
    """Each part's share of the steady-state samples (large run less small run), in ms of core time per clip."""
    extra = {k: max(large[k] - small[k], 0) for k in set(small) | set(large)}
    total = sum(extra.values())
    if total <= 0 or clips <= 0:
        return {}
    return {k: round(core_ms_per_clip * v / total, 2) for k, v in sorted(extra.items(), key=lambda kv: -kv[1]) if v}
