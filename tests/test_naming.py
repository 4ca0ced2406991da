import datetime as dt

import pytest

from whaledr_core import naming
from whaledr_core.naming import ChannelCodes


def test_keys_and_ids_follow_the_app_contract():
    stem = naming.clip_stem(ChannelCodes("OO", "HYEA1", "", "YDH"), dt.datetime(2019, 1, 12, 3, 1, 20))
    assert stem == "OO_HYEA1__YDH_2019_01_12T03_01_20"
    sid = naming.sample_id("LJ01C", dt.date(2019, 1, 12), stem)
    assert sid == "LJ01C___2019_01_12___OO_HYEA1__YDH_2019_01_12T03_01_20"
    # the app rebuilds URLs from the ID split on ___ with {prefix}/{0}/{1}/{2}.jpg and .wav
    parts = sid.split("___")
    for ext in ("jpg", "png", "wav"):
        assert naming.clip_key("whaledr", sid, ext) == "whaledr/{0}/{1}/{2}.{ext}".format(*parts, ext=ext)
        assert naming.clip_key("", sid, ext) == "{0}/{1}/{2}.{ext}".format(*parts, ext=ext)
    assert naming.app_manifest_key("whaledr") == "whaledr/whalemanifest.json"
    assert naming.day_manifest_key("", "LJ01C", dt.date(2019, 1, 12)) == "LJ01C/2019_01_12/whaledr-day.json"


@pytest.mark.parametrize("bad", ["OO_HY.A1", "OO/HY", "OO#", "OO$", "OO[1]"])
def test_ids_refuse_characters_the_database_refuses(bad):
    with pytest.raises(ValueError):
        naming.sample_id("LJ01C", dt.date(2019, 1, 12), bad)
