import datetime as dt
from pathlib import Path
from urllib.parse import unquote

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
    assert late.start == dt.datetime(2019, 1, 12, 3, 5, 17, 250015, tzinfo=dt.timezone.utc)
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
    assert len(files) == 3 and "/addendum/" in files[-1].url
    local_folder, local_files = listing.list_day(str(synth_mirror), get_hydrophone("LJ01D"), DAY)
    assert [f.name for f in local_files] == [f.name for f in files]
    for remote, local in zip(files, local_files):
        assert remote.start == local.start
        assert abs(remote.size - local.size) <= 0.05 * local.size  # the page rounds, the disk is exact


def test_missing_day_lists_nothing_and_missing_folder_source_is_an_error(synth_mirror, tmp_path):
    assert listing.list_day(str(synth_mirror), get_hydrophone("LJ01D"), dt.date(2019, 1, 13)) == (None, [])
    with pytest.raises(listing.ListingError):
        listing.list_day(str(tmp_path / "nope"), get_hydrophone("LJ01D"), DAY)


@pytest.mark.parametrize("code", ["LJ01D", "lj01d", "CE02SHBP-LJ01D-11-HYDBBA106", "CE02SHBP-LJ01D-HYDBBA106", "HYDBBA106"])
def test_hydrophone_lookup(code):
    h = get_hydrophone(code)
    assert (h.site, h.node, h.instrument, h.legacy_instrument) == ("CE02SHBP", "LJ01D", "HYDBBA106", "11-HYDBBA106")


def test_folder_forms_follow_the_rename():
    h = get_hydrophone("LJ01C")
    assert h.day_paths(dt.date(2019, 1, 12))[0] == "CE04OSBP/LJ01C/11-HYDBBA105/2019/01/12/"
    assert h.day_paths(dt.date(2025, 6, 1)) == ["CE04OSBP/LJ01C/HYDBBA105/2025/06/01/", "CE04OSBP/LJ01C/11-HYDBBA105/2025/06/01/"]
