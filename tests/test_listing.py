import datetime as dt
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from whaledr_core import listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.naming import ChannelCodes

from conftest import DAY

DATA = Path(__file__).parent / "data"
PAGE_URL = "https://rawdata.oceanobservatories.org/files/CE04OSBP/LJ01C/11-HYDBBA105/2019/01/12/"


def test_apache_autoindex_page_gives_mseed_files_sorted_with_fractions_and_sizes():
    files, folders = listing.parse_index((DATA / "ooi_apache_day.html").read_text(), PAGE_URL)
    assert sorted(f.name for f in files) == [  # no .png, no README, no folder, no sort links
        "OO-HYEA1--YDH-2019-01-12T00:00:00.000015.mseed",
        "OO-HYEA1--YDH-2019-01-12T03:00:00.000015.mseed",
        "OO-HYEA1--YDH-2019-01-12T03:05:17.250015.mseed",
    ]
    by_name = {f.name: f for f in files}
    late = by_name["OO-HYEA1--YDH-2019-01-12T03:05:17.250015.mseed"]
    assert late.start == dt.datetime(2019, 1, 12, 3, 5, 17, 250015, tzinfo=dt.UTC)
    assert late.url == PAGE_URL + late.name
    assert late.size == int(5.2 * 1024**2) and not late.size_exact
    assert by_name["OO-HYEA1--YDH-2019-01-12T00:00:00.000015.mseed"].size == 37 * 1024**2
    assert late.codes == ChannelCodes("OO", "HYEA1", "", "YDH")
    assert folders == [PAGE_URL + "addendum/"]


def test_list_day_sorts_by_start_time():
    files = listing._sorted_unique(listing.parse_index((DATA / "ooi_apache_day.html").read_text(), PAGE_URL)[0])
    assert [f.start.strftime("%H:%M:%S.%f") for f in files] == ["00:00:00.000015", "03:00:00.000015", "03:05:17.250015"]


def test_plain_http_server_listing(tmp_path, static_server):
    """`python -m http.server` on a folder with no index.html: a bare <ul> of links, no sizes."""
    day = tmp_path / "files" / "CE02SHBP" / "LJ01D" / "HYDBBA106" / "2025" / "03" / "01"
    (day / "addendum").mkdir(parents=True)
    names = ["OO-HYEA2--YDH-2025-03-01T00:05:00.000015.mseed", "OO-HYEA2--YDH-2025-03-01T00:00:00.000015.mseed"]
    for n in names:
        (day / n).write_bytes(b"x" * 10)
    (day / "addendum" / "OO-HYEA2--YDH-2025-03-01T00:10:00.000015.mseed").write_bytes(b"y")
    (day / "plot.png").write_bytes(b"p")
    server = static_server(tmp_path)
    folder, files = listing.list_day(server.url + "/files", get_hydrophone("LJ01D"), dt.date(2025, 3, 1))
    assert folder == server.url + "/files/CE02SHBP/LJ01D/HYDBBA106/2025/03/01/"
    assert [f.name for f in files] == sorted(names) + ["OO-HYEA2--YDH-2025-03-01T00:10:00.000015.mseed"]
    assert unquote(files[-1].url).endswith("/01/addendum/OO-HYEA2--YDH-2025-03-01T00:10:00.000015.mseed")
    assert all(f.size is None for f in files)


def test_synthetic_mirror_over_http_looks_like_the_server(synth_mirror, static_server):
    server = static_server(synth_mirror)
    folder, files = listing.list_day(server.url, get_hydrophone("LJ01D"), DAY)
    assert folder.endswith("/CE02SHBP/LJ01D/11-HYDBBA106/2019/01/12/")  # 2019: the prefixed folder form
    assert all(f.name.endswith("Z.mseed") for f in files)  # synth's default era: today's names
    assert len(files) == 3 and "/addendum/" in files[-1].url
    local_folder, local_files = listing.list_day(str(synth_mirror), get_hydrophone("LJ01D"), DAY)
    assert [f.name for f in local_files] == [f.name for f in files]
    for remote, local in zip(files, local_files, strict=True):
        assert remote.start == local.start
        assert abs(remote.size - local.size) <= 0.05 * local.size  # the page rounds, the disk is exact


def test_missing_day_lists_nothing_and_missing_folder_source_is_an_error(synth_mirror, tmp_path):
    assert listing.list_day(str(synth_mirror), get_hydrophone("LJ01D"), dt.date(2019, 1, 13)) == (None, [])
    with pytest.raises(listing.ListingError):
        listing.list_day(str(tmp_path / "nope"), get_hydrophone("LJ01D"), DAY)


@pytest.mark.parametrize("code", ["LJ01D", "lj01d", "CE02SHBP-LJ01D-11-HYDBBA106", "CE02SHBP-LJ01D-HYDBBA106",
                                  "HYDBBA106"])
def test_hydrophone_lookup(code):
    h = get_hydrophone(code)
    assert (h.site, h.node, h.instrument, h.legacy_instrument) == ("CE02SHBP", "LJ01D", "HYDBBA106", "11-HYDBBA106")


def test_folder_forms_follow_the_rename():
    h = get_hydrophone("LJ01C")
    assert h.day_paths(dt.date(2019, 1, 12))[0] == "CE04OSBP/LJ01C/11-HYDBBA105/2019/01/12/"
    assert h.day_paths(dt.date(2025, 6, 1)) == ["CE04OSBP/LJ01C/HYDBBA105/2025/06/01/",
                                                "CE04OSBP/LJ01C/11-HYDBBA105/2025/06/01/"]


# The three name forms, verbatim from the public record (DESIGN.md "The data": ooipy issue 174 and the
# rawdata server's paths, e.g. .../LJ01D/HYDBBA106/2025/05/24/OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed).
REAL_NAMES = {
    "OO-HYVM2--YDH.2015-09-03T23:53:17.272250.mseed": ("HYVM2", dt.datetime(2015, 9, 3, 23, 53, 17, 272250)),
    "OO-HYEA2--YDH-2019-01-12T00:00:00.000015.mseed": ("HYEA2", dt.datetime(2019, 1, 12, 0, 0, 0, 15)),
    "OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed": ("HYEA2", dt.datetime(2025, 5, 24, 23, 55)),
}


def apache_row(href: str, shown: str, size: str) -> str:
    """One row of an Apache 2.4 autoindex table (mod_autoindex, HTMLTable), as in tests/data."""
    return (f'<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="{href}">{shown}</a></td>'
            f'<td align="right">2025-05-25 00:00  </td><td align="right">{size}</td><td>&nbsp;</td></tr>\n')


@pytest.mark.parametrize("name", REAL_NAMES)
@pytest.mark.parametrize("link", ["apache", "percent", "bare"])
def test_each_real_name_form_is_listed_with_each_link_form(name, link):
    """Apache links a name with a `:` as `./NAME`; another server may write `%3A`; a bare name must not
    be read as a URL scheme (`OO-HYEA2--YDH-2019-01-12T00:` looks like one)."""
    href = {"apache": "./" + name, "percent": name.replace(":", "%3A"), "bare": name}[link]
    page = (DATA / "ooi_apache_2025_day.html").read_text()
    page = page.replace("</table>", apache_row(href, "OO-HYEA2--YDH-2025-0..&gt;", " 36M") + "</table>")
    page_url = "https://rawdata.oceanobservatories.org/files/CE02SHBP/LJ01D/HYDBBA106/2025/05/24/"
    files, folders = listing.parse_index(page, page_url)
    by_name = {f.name: f for f in files}
    f = by_name[name]
    station, start = REAL_NAMES[name]
    assert f.problem is None and f.codes == ChannelCodes("OO", station, "", "YDH")
    assert f.start == start.replace(tzinfo=dt.UTC)
    assert unquote(f.url) == page_url + name
    assert f.size == 36 * 1024**2 and not f.size_exact
    assert folders == [page_url + "addendum/"]  # not the parent, not the header's other site, not sort links


def test_apache_2025_page_gives_its_files_and_nothing_else():
    page_url = "https://rawdata.oceanobservatories.org/files/CE02SHBP/LJ01D/HYDBBA106/2025/05/24/"
    files, folders = listing.parse_index((DATA / "ooi_apache_2025_day.html").read_text(), page_url)
    assert [f.name for f in files] == ["OO-HYEA2--YDH-2025-05-24T23:50:00.000000Z.mseed",
                                       "OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed"]
    assert all(f.problem is None and f.size_bounds[0] <= 37_752_832 <= f.size_bounds[1] for f in files)


def test_synth_pages_follow_apaches_rules(tmp_path):
    from whaledr_core.synth import SynthOptions, apr_strfsize, write_day

    # apr_strfsize, as APR's strings/apr_strings.c computes it
    assert [apr_strfsize(n) for n in (0, 972, 973, 5_452_595, 37_752_832, 10_461_184)] == [
        "  0 ", "972 ", "1.0K", "5.2M", " 36M", " 10M"]
    day = dt.date(2025, 5, 24)
    (path,) = write_day(tmp_path, get_hydrophone("LJ01D"), day, SynthOptions(files=1, file_seconds=5))
    page = (path.parent / "index.html").read_text()
    assert f'href="./{path.name}"' in page  # a `:` in the name: `./`
    assert 'href="?C=N;O=D"' in page and 'href="/files/CE02SHBP/LJ01D/HYDBBA106/2025/05/"' in page
    assert 'href="https://oceanobservatories.org/"' in page and "..&gt;</a>" in page
    files, _ = listing.parse_index(page, "http://127.0.0.1:1/CE02SHBP/LJ01D/HYDBBA106/2025/05/24/")
    assert [f.name for f in files] == [path.name]
    lo, hi = files[0].size_bounds
    assert lo <= path.stat().st_size <= hi


def test_a_mseed_name_in_no_known_form_is_a_failed_file_that_names_it(tmp_path):
    from whaledr_core import daymanifest
    from whaledr_core.clips import ClipSettings, plan_day
    from whaledr_core.fileclips import process_file
    from whaledr_core.render import RenderSettings
    from whaledr_core.sinks import LocalSink

    from conftest import RATE, mseed_name, write_mseed

    h = get_hydrophone("LJ01D")
    folder = tmp_path / h.day_paths(DAY)[0]
    t0 = dt.datetime(2019, 1, 12, 0, 0, 0, 15, tzinfo=dt.UTC)
    good = write_mseed(folder / mseed_name(t0), t0, np.zeros(10 * RATE, np.int32))
    odd = folder / "OO_HYEA2__YDH_20190112T001000.mseed"  # a renaming on the server
    odd.write_bytes(good.read_bytes())
    _, files = listing.list_day(str(tmp_path), h, DAY)
    assert [f.name for f in files] == [good.name, odd.name]
    assert files[1].problem and "no known OOI form" in files[1].problem
    clip_settings, render_settings = ClipSettings(file_seconds=10), RenderSettings(axes=False)
    plan = plan_day(DAY, files, clip_settings)
    assert [(u.file.name, len(u.windows)) for u in plan.units] == [(good.name, 17_280), (odd.name, 0)]
    sink = LocalSink(tmp_path / "out")
    results = [process_file(u, u.file.url, None, DAY, h.node, sink, clip_settings, render_settings) for u in plan.units]
    m = daymanifest.build(hydrophone=h, day=DAY, source=str(tmp_path), folder=None, plan=plan, results=results,
                       clip_settings=clip_settings, render_settings=render_settings, timings={})
    assert m["failed_files"] == [odd.name] and not m["complete"]
    entry = next(f for f in m["files"] if f["name"] == odd.name)
    assert entry["status"] == "failed" and odd.name in entry["error"] and "no known OOI form" in entry["error"]
    assert m["totals"]["clips"] == 2 and m["totals"]["clip_seconds"] + m["totals"]["skipped_seconds"] == 86_400


def test_a_name_in_the_day_folder_and_in_addendum_is_used_once_and_the_note_says_which(tmp_path, static_server):
    from whaledr_core.synth import write_indexes

    h = get_hydrophone("LJ01D")
    day = dt.date(2025, 5, 24)
    folder = tmp_path / h.day_paths(day)[0]
    (folder / "addendum").mkdir(parents=True)
    name = "OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed"
    (folder / name).write_bytes(b"x" * 3_000_000)  # a partial delivery
    (folder / "addendum" / name).write_bytes(b"x" * 6_000_000)  # the whole file, delivered later
    write_indexes(tmp_path)
    server = static_server(tmp_path)
    for source in (server.url, str(tmp_path)):
        _, files = listing.list_day(source, h, day)
        (f,) = files
        assert "/addendum/" in f.url and "listed 2 times" in f.note and "the larger copy" in f.note
        assert unquote(f.url) in f.note
    (folder / "addendum" / name).write_bytes(b"x" * 3_000_000)  # the same size: the day folder's copy
    _, (f,) = listing.list_day(str(tmp_path), h, day)
    assert "/addendum/" not in f.url and "listed first" in f.note


def test_apache_pre_form_page_without_htmltable():
    """mod_autoindex's FancyIndexing without HTMLTable: one `<pre>` of rows, the size after the date."""
    page = (
        '<html><body><h1>Index of /files/CE02SHBP/LJ01D/HYDBBA106/2025/05/24</h1><pre>'
        '<img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>                    '
        '<a href="?C=M;O=A">Last modified</a>      <a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr>'
        '<img src="/icons/back.gif" alt="[PARENTDIR]"> <a href="/files/CE02SHBP/LJ01D/HYDBBA106/2025/05/">Parent '
        'Directory</a>                             -   \n'
        '<img src="/icons/unknown.gif" alt="[   ]"> <a href="./OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed">'
        'OO-HYEA2--YDH-2025-0..&gt;</a> 2025-05-25 00:00   36M  \n'
        '<img src="/icons/image2.gif" alt="[IMG]"> <a href="./OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.png">'
        'OO-HYEA2--YDH-2025-0..&gt;</a> 2025-05-25 00:14   88K  \n<hr></pre></body></html>\n'
    )
    page_url = "https://rawdata.oceanobservatories.org/files/CE02SHBP/LJ01D/HYDBBA106/2025/05/24/"
    files, folders = listing.parse_index(page, page_url)
    assert [(f.name, f.size) for f in files] == [("OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed", 36 * 1024**2)]
    assert folders == []
