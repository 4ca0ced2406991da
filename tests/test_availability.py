"""`whaledr availability`: the data calendar read from the day folders' listings alone, over a folder
and over HTTP, with whole, partial, empty and missing days in both instrument-folder forms."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from whaledr_core import availability as av
from whaledr_core.catalog import get_hydrophone
from whaledr_core.fetch import RetryPolicy
from whaledr_core.listing import parse_size
from whaledr_core.synth import apr_strfsize, write_indexes

from conftest import run_cli

H = get_hydrophone("LJ01D")
START = dt.date(2025, 1, 30)  # the instrument folder lost its prefix around 2025-02-01: both forms in range
DAYS = [START + dt.timedelta(days=i) for i in range(5)]


def file_name(t: dt.datetime) -> str:
    return f"OO-HYEA2--YDH-{t:%Y-%m-%dT%H:%M:%S.%f}Z.mseed"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> tuple[Path, dict[dt.date, tuple[int, int, set[int]]]]:
    """A mirror laid out as the server is (DESIGN.md; pages by `synth.write_indexes`, Apache's rules). Files
    hold filler bytes: the calendar reads names and sizes only. Returns the root and, per day, the files,
    bytes and start hours that were written."""
    root = tmp_path_factory.mktemp("calendar-mirror")
    truth: dict[dt.date, tuple[int, int, set[int]]] = {}
    plans = {
        DAYS[0]: ("legacy", [(h, m) for h in range(24) for m in range(0, 60, 5)]),  # a whole day, old folder form
        DAYS[1]: ("current", [(0, 0), (0, 5), (3, 10), (3, 15), (23, 55)]),        # partial, the other form
        DAYS[2]: None,                                                                # no day folder at all
        DAYS[3]: ("current", []),                                                    # a day folder, no file
        DAYS[4]: ("current", [(h, 0) for h in range(6, 12)]),                         # partial, one in addendum/
    }
    for day, plan in plans.items():
        if plan is None:
            truth[day] = (0, 0, set())
            continue
        form, starts = plan
        folder = root / H.day_paths(day)[0 if (form == "current") == (day >= dt.date(2025, 2, 1)) else 1]
        folder.mkdir(parents=True)
        (folder / "OO-HYEA2--YDH-plot.png").write_bytes(b"png")  # plots beside the data are not data
        total = 0
        for i, (hour, minute) in enumerate(starts):
            sub = folder / "addendum" if day == DAYS[4] and i == len(starts) - 1 else folder
            sub.mkdir(exist_ok=True)
            size = 37_752_832 if i % 3 else 1_000 + 4096 * i  # whole files and stubs of a few records
            start = dt.datetime.combine(day, dt.time(hour, minute), dt.UTC) + dt.timedelta(microseconds=15)
            with open(sub / file_name(start), "wb") as f:
                f.truncate(size)  # sparse: sizes without bytes on disk
            total += size
        truth[day] = (len(starts), total, {h for h, _ in starts})
    write_indexes(root)
    return root, truth


def test_json_over_a_folder_gives_every_days_exact_files_and_bytes(mirror, tmp_path):
    """Each day of the range appears once, in order; a missing folder and an empty one are 0 files."""
    root, truth = mirror
    picture = tmp_path / "cal.png"
    r = run_cli("availability", DAYS[0].isoformat(), DAYS[-1].isoformat(), "--source", str(root), "--json",
                "--picture", str(picture))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"hydrophone": "LJ01D", "days": [
        {"day": d.isoformat(), "files": truth[d][0], "bytes": truth[d][1]} for d in DAYS]}
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_over_http_the_apache_pages_give_the_same_files_and_their_rounded_sizes(mirror, static_server):
    """The OOI server's pages round sizes (`36M`): bytes are the listing's, and the table marks them `~`."""
    root, truth = mirror
    server = static_server(root)  # python -m http.server serves each folder's Apache-style index.html
    surveyed = av.survey(server.url, H, DAYS)
    assert [(d.day, d.files) for d in surveyed] == [(d, truth[d][0]) for d in DAYS]
    sizes = {p.name: p.stat().st_size for p in root.rglob("*.mseed")}
    for d in surveyed:
        names = [p for p in root.rglob(f"*{d.day:%Y-%m-%d}T*.mseed")]
        assert d.bytes == sum(parse_size(apr_strfsize(sizes[p.name]))[0] or 0 for p in names)
    assert not surveyed[0].bytes_exact and "~" in av.table(surveyed)[1]
    assert surveyed[2].folder is None and surveyed[3].folder is not None and surveyed[3].files == 0


def test_the_table_says_files_bytes_and_the_hours_the_names_start_in(mirror, tmp_path):
    root, truth = mirror
    r = run_cli("availability", DAYS[0].isoformat(), DAYS[-1].isoformat(), "--source", str(root),
                "--picture", str(tmp_path / "cal.png"))
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line[:4].isdigit()}
    assert rows[DAYS[0].isoformat()].split()[1:4] == ["288", *av.human_bytes(truth[DAYS[0]][1]).split()]
    assert "288/288  00-23" in rows[DAYS[0].isoformat()]
    assert rows[DAYS[1].isoformat()].endswith("5/288  00,03,23")
    assert rows[DAYS[2].isoformat()].endswith("no day folder")
    assert rows[DAYS[3].isoformat()].endswith("empty day folder")
    assert rows[DAYS[4].isoformat()].endswith("06-11")
    assert "LJ01D: 3 of 5 days hold files (1 whole, 2 partial, 2 without); 299 files" in r.stdout
    assert f"calendar: {tmp_path / 'cal.png'}" in r.stdout


def test_the_calendar_paints_missing_days_grey_and_whole_days_dark():
    """Pixels, not just a file: a range of only whole days has no grey cell; one missing day adds a cell's worth."""
    whole = [av.DayFiles(d, "f", 288, 1, True, frozenset(range(288))) for d in DAYS]
    one_missing = [*whole[:2], av.DayFiles(DAYS[2], None, 0, 0, True, frozenset()), *whole[3:]]

    def grey_pixels(days) -> int:
        pixels = np.asarray(Image.open(io.BytesIO(av.calendar_png("t", days))).convert("RGB"))
        grey = [int(av.NO_FILES[i:i + 2], 16) for i in (1, 3, 5)]
        return int((pixels == grey).all(axis=2).sum())

    legend = grey_pixels(whole)  # the legend's "none" swatch
    assert legend > 0 and grey_pixels(one_missing) > 1.5 * legend


def test_a_listing_that_fails_is_an_error_naming_the_day_never_a_day_without_files(mirror):
    """A server answering 500 for one day's folder: the survey stops and names that day."""
    root, _ = mirror
    broken = f"/{H.day_paths(DAYS[1])[0]}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith(broken) or self.path.startswith(f"/{H.day_paths(DAYS[1])[1]}"):
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(av.ListingFailed, match=f"LJ01D {DAYS[1]}: the day's listing failed: .*HTTP 500"):
            av.survey(f"http://127.0.0.1:{server.server_address[1]}", H, DAYS,
                      policy=RetryPolicy(attempts=2, backoff=0.01, max_wait=0.02))
    finally:
        server.shutdown()
        server.server_close()


def test_hours_and_day_ranges_read_as_ranges():
    assert av.hours_text(frozenset({0, 1, 2, 5, 7, 8})) == "00-02,05,07-08"
    assert av.hours_text(frozenset()) == "-"
    days = [av.DayFiles(d, None, 0 if d in (DAYS[1], DAYS[2], DAYS[4]) else 1, 0, True, frozenset()) for d in DAYS]
    assert av.without_files(days) == f"{DAYS[1]}..{DAYS[2]}, {DAYS[4]}"
