"""What the server holds for a range of days, from the day folders' listings alone: the data calendar
that comes before a backfill (docs, "A data calendar before a backfill").

Coverage is 50-100 % a day (Navy-mandated gaps), whole months are missing on some nodes, and a year of
one node is 3-6 TB: an operator sees which days exist, how big they are and which hours their files
start in before asking for them, and a backfill starts no day run for a day without files. Nothing is
downloaded: each day costs one or two index pages (both instrument-folder forms, and `addendum/`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .catalog import FILE_SECONDS, Hydrophone
from .fetch import FetchError, RetryPolicy, is_remote, new_client
from .listing import ListingError, RawFile, list_day

SLOTS_PER_DAY = 86_400 // FILE_SECONDS
"""Five-minute slots in a day: a whole day is 288 files."""

LISTING_THREADS = 4
"""Index pages asked for at once: a year's calendar takes seconds, and the server sees a few small pages."""


class ListingFailed(RuntimeError):
    """A day's listing could not be read (the server down, an error page): never taken for a day without files."""


@dataclass(frozen=True)
class DayFiles:
    """What one day folder lists."""

    day: dt.date
    folder: str | None
    """The day folder found (either instrument-folder form); None when there is none."""
    files: int
    bytes: int
    """The sizes the listing gives, added up: exact from a folder, rounded per file from Apache (`36M`)."""
    bytes_exact: bool
    slots: frozenset[int]
    """The day's five-minute slots (0-287) in which a file's name says it starts."""

    @property
    def hours(self) -> frozenset[int]:
        """The UTC hours in which the files' names start."""
        return frozenset(s * FILE_SECONDS // 3600 for s in self.slots)

    @property
    def coverage(self) -> float:
        """The share of the day's five-minute slots in which a file starts (a whole day is 1.0)."""
        return len(self.slots) / SLOTS_PER_DAY


def day_files(day: dt.date, folder: str | None, files: Sequence[RawFile]) -> DayFiles:
    """The calendar's record of one day from what its listing gave."""
    midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
    slots = frozenset(int((f.start - midnight).total_seconds()) // FILE_SECONDS for f in files
                      if f.problem is None and f.start.date() == day)
    return DayFiles(day, folder, len(files), sum(f.size or 0 for f in files),
                    all(f.size is not None and f.size_exact for f in files), slots)


def survey(source: str, hydrophone: Hydrophone, days: Sequence[dt.date], threads: int = LISTING_THREADS,
           policy: RetryPolicy = RetryPolicy()) -> list[DayFiles]:
    """Every day of `days`, in order, from its listing; a listing that fails stops the survey with an
    error naming the day (once the listing's own retries, `policy`, are spent)."""
    client = new_client() if is_remote(source) else None

    def one(day: dt.date) -> DayFiles:
        try:
            folder, files = list_day(source, hydrophone, day, client, policy)
        except (FetchError, ListingError, OSError) as e:
            raise ListingFailed(f"{hydrophone.node} {day}: the day's listing failed: {e}") from e
        return day_files(day, folder, files)

    try:
        with ThreadPoolExecutor(max(1, threads)) as pool:
            return list(pool.map(one, days))
    finally:
        if client is not None:
            client.close()


def as_json(node: str, days: Sequence[DayFiles]) -> dict:
    """`{"hydrophone": NODE, "days": [{"day": "YYYY-MM-DD", "files": N, "bytes": B}, ...]}`, every day."""
    return {"hydrophone": node, "days": [{"day": d.day.isoformat(), "files": d.files, "bytes": d.bytes} for d in days]}


def hours_text(hours: frozenset[int]) -> str:
    """UTC hours as ranges: `00-23`, `00-05,08,10-23`; empty: `-`."""
    runs: list[list[int]] = []
    for h in sorted(hours):
        if runs and h == runs[-1][1] + 1:
            runs[-1][1] = h
        else:
            runs.append([h, h])
    return ",".join(f"{a:02d}" if a == b else f"{a:02d}-{b:02d}" for a, b in runs) or "-"


def human_bytes(n: int) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def summary(node: str, days: Sequence[DayFiles]) -> str:
    """One line: how many days hold files, how many are whole, the bytes."""
    held = [d for d in days if d.files]
    whole = sum(len(d.slots) == SLOTS_PER_DAY for d in held)
    approx = "" if all(d.bytes_exact for d in held) else "~"
    return (f"{node}: {len(held)} of {len(days)} days hold files ({whole} whole, {len(held) - whole} partial, "
            f"{len(days) - len(held)} without); {sum(d.files for d in days)} files, "
            f"{approx}{human_bytes(sum(d.bytes for d in days))}")


def table(days: Sequence[DayFiles]) -> list[str]:
    """The per-day table: files, bytes (`~` where the listing rounds sizes), coverage, start hours."""
    lines = [f"{'day':<10}  {'files':>5}  {'bytes':>10}  {'slots':>7}  hours (UTC, from the file names)"]
    for d in days:
        size = ("" if d.bytes_exact else "~") + human_bytes(d.bytes)
        where = hours_text(d.hours) if d.files else ("empty day folder" if d.folder else "no day folder")
        lines.append(f"{d.day.isoformat():<10}  {d.files:>5}  {size:>10}  {len(d.slots):>3}/{SLOTS_PER_DAY}  {where}")
    return lines


def without_files(days: Sequence[DayFiles]) -> str:
    """The days without files, consecutive ones as ranges: `2019-01-15, 2019-02-01..2019-02-28`."""
    runs: list[list[dt.date]] = []
    for d in (d.day for d in days if not d.files):
        if runs and d == runs[-1][1] + dt.timedelta(days=1):
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return ", ".join(a.isoformat() if a == b else f"{a}..{b}" for a, b in runs) or "none"


NO_FILES, OUTSIDE = "#d9dce1", "#ffffff"
"""A day without files (grey, as GitHub's empty days), and a cell that is no day of the range."""


def calendar_png(title: str, days: Sequence[DayFiles]) -> bytes:
    """A heat map of coverage: one row per month, one cell per day of the month (1-31), green as deep
    as the share of the day's five-minute slots that hold a file's start; grey where the day has none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LinearSegmentedColormap, to_rgb
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    greens = LinearSegmentedColormap.from_list("coverage", ["#e3f5b8", "#9be07a", "#40c463", "#30a14e", "#0e4429"])
    by_day = {d.day: d for d in days}
    months = sorted({(d.day.year, d.day.month) for d in days})
    cell, left, top, bottom = 0.26, 1.25, 0.75, 0.85
    fig = Figure(figsize=(left + 31 * cell + 0.75, top + len(months) * cell + bottom), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    width, height = fig.get_size_inches()
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(0.15, 0.3, title, fontsize=10, weight="bold", va="center")
    for k in range(1, 32):
        if k in (1, 5, 10, 15, 20, 25, 31):
            ax.text(left + (k - 0.5) * cell, top - 0.1, str(k), fontsize=7, ha="center", va="bottom", color="#555")
    for row, (year, month) in enumerate(months):
        y = top + row * cell
        ax.text(left - 0.1, y + cell / 2, f"{dt.date(year, month, 1):%Y %b}", fontsize=8, ha="right", va="center")
        held = 0
        for k in range(1, 32):
            try:
                day = dt.date(year, month, k)
            except ValueError:
                continue
            d = by_day.get(day)
            face = to_rgb(OUTSIDE) if d is None else to_rgb(NO_FILES) if not d.files else greens(min(1.0, d.coverage))
            held += bool(d is not None and d.files)
            ax.add_patch(Rectangle((left + (k - 1) * cell + 0.02, y + 0.02), cell - 0.04, cell - 0.04, facecolor=face,
                                   edgecolor="#e4e6ea" if d is None else "white", linewidth=0.6))
        in_range = sum(1 for day in by_day if (day.year, day.month) == (year, month))
        ax.text(left + 31 * cell + 0.1, y + cell / 2, f"{held}/{in_range} d", fontsize=7, va="center", color="#555")
    y = top + len(months) * cell + 0.3
    ax.text(left - 0.1, y, "share of the day's", fontsize=7, va="center", ha="right", color="#555")
    ax.text(left - 0.1, y + 0.16, "5-minute files:", fontsize=7, va="center", ha="right", color="#555")
    legend = [(to_rgb(NO_FILES), "none"), *[(greens(v), f"{v:.0%}") for v in (0.25, 0.5, 0.75, 1.0)]]
    for i, (swatch, label) in enumerate(legend):
        x = left + i * 2 * cell
        ax.add_patch(Rectangle((x + 0.02, y - cell / 2 + 0.02), cell - 0.04, cell - 0.04, facecolor=swatch,
                               edgecolor="white"))
        ax.text(x + cell / 2, y + cell / 2 + 0.08, label, fontsize=6.5, ha="center", va="top", color="#555")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
