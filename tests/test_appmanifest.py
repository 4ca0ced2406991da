"""The app's manifest keeps older samples: a rebuild from day manifests never drops IDs it did not make.

The live database holds samples made before this pipeline (the issue and DESIGN.md "The app contract":
~1,100 `LJ01A`/`LJ01C___...` IDs and ~3,300 older IDs without `___`); the app's Admin "Refresh Sample
List" (SwipesForScience, commit 2cd319e, src/components/Admin.vue) removes every /sampleCounts key
missing from the manifest, so an ID dropped here is a sample taken out of rotation.
"""

from __future__ import annotations

import json

import pytest

from whaledr_core import appmanifest
from whaledr_core.daymanifest import SCHEMA
from whaledr_core.sinks import LocalSink, S3Sink

# the two legacy forms; the first imitates the original writer's IDs (whaledr/whalebooks), the second
# stands for the older IDs without the delimiter
LEGACY_DELIMITED = ["LJ01A___2018_03_02___OO_HYVM1__YDH_2018_03_02T10_15_30",
                    "LJ01C___2017_11_20___OO_HYEA1__YDH_2017_11_20T04_00_05"]
LEGACY_BARE = ["OO_HYEA1__YDH_2016_05_01T12_00_00", "whale_0042"]
DAY = "2019_01_12"
OURS = [f"LJ01D___{DAY}___OO_HYEA2__YDH_2019_01_12T00_00_{s:02d}" for s in (0, 5, 10)]


@pytest.fixture(params=["local", "s3"])
def sink(request, tmp_path):
    if request.param == "local":
        return LocalSink(tmp_path, "megaptera")
    client, name = request.getfixturevalue("bucket")
    return S3Sink(client, name, "megaptera")


def store_day(sink, ids: list[str], image_format: str = "jpeg", stored: list[str] | None = None) -> None:
    """A day as a run leaves it: its clips' objects, then its day manifest."""
    ext = "jpg" if image_format == "jpeg" else "png"
    for sid in stored if stored is not None else ids:
        node, day, stem = sid.split("___")
        for e in (ext, "wav"):
            sink.put(f"megaptera/{node}/{day}/{stem}.{e}", b"x", "application/octet-stream")
    node, day = ids[0].split("___")[:2]
    record = {"schema": SCHEMA, "date": "2019-01-12", "clips": [{"id": i} for i in ids],
              "settings": {"render": {"image_format": image_format}}}
    sink.put(f"megaptera/{node}/{day}/whaledr-day.json", json.dumps(record).encode(), "application/json")


def published(sink) -> list[str]:
    return appmanifest.parse(sink.get("megaptera/whalemanifest.json"))


def test_a_rebuild_keeps_both_legacy_forms_and_drops_what_a_day_manifest_disowns(sink):
    stale = f"LJ01D___{DAY}___OO_HYEA2__YDH_2019_01_12T23_59_55"  # in our day, but no longer in its record
    sink.put("megaptera/whalemanifest.json", json.dumps(LEGACY_DELIMITED + LEGACY_BARE + [stale]).encode(),
             "application/json")
    store_day(sink, OURS)
    update = appmanifest.rebuild(sink)
    assert published(sink) == sorted(LEGACY_DELIMITED + LEGACY_BARE + OURS)
    assert (update.kept, update.added) == (4, 3)


def test_pruning_legacy_is_explicit(sink):
    sink.put("megaptera/whalemanifest.json", json.dumps(LEGACY_DELIMITED + LEGACY_BARE).encode(), "application/json")
    store_day(sink, OURS)
    appmanifest.rebuild(sink, prune_legacy=True)
    assert published(sink) == OURS


def test_a_merge_keeps_every_id_already_listed(sink):
    sink.put("megaptera/whalemanifest.json", json.dumps(LEGACY_DELIMITED + LEGACY_BARE).encode(), "application/json")
    appmanifest.merge(sink, OURS)
    assert published(sink) == sorted(LEGACY_DELIMITED + LEGACY_BARE + OURS)


def test_the_image_a_day_manifest_names_must_be_stored(sink):
    """Each day's record says its format: PNG days (before JPEG) and JPEG days are both checked."""
    png_day = [i.replace(DAY, "2019_01_11").replace("2019_01_12T", "2019_01_11T") for i in OURS]
    store_day(sink, OURS, stored=OURS[:2])  # the third clip's objects are missing
    store_day(sink, png_day, image_format="png")
    appmanifest.rebuild(sink)
    assert published(sink) == sorted(OURS[:2] + png_day)
    store_day(sink, png_day, image_format="gif")
    with pytest.raises(ValueError, match="gif"):
        appmanifest.rebuild(sink)
