"""The app's config as the contract: its URL rule, the one-line disagreement, and `check-app` playing
the browser against a moto S3 server whose bucket has (or lacks) the app's CORS rule.

The templates, delimiter and manifest URL are the live whaledr app's config (Firebase project
megaptera-13ae9: manifestUrl, widgetProperties.baseUrlTemplate/soundUrlTemplate/delimiter); the URL rule
is `fillPropertyPattern` of SwipesForScience (commit 2cd319e) src/components/Widgets/ImageSoundSwipe.vue.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from whaledr_core import appcheck
from whaledr_core.app import (
    LIVE,
    AppConfig,
    Layout,
    cors_rules,
    disagreement,
    fill,
    public_read_policy,
    s3_location,
)

OURS = "LJ01D___2019_01_12___OO_HYEA2__YDH_2019_01_12T00_00_05"
LEGACY_DELIMITED = "LJ01C___2017_11_20___OO_HYEA1__YDH_2017_11_20T04_00_05"
LEGACY_BARE = "OO_HYEA1__YDH_2016_05_01T12_00_00"
ORIGIN = "https://megaptera-13ae9.firebaseapp.com"


def test_the_live_config_is_the_default_and_builds_urls_as_the_app_does():
    assert LIVE.manifest_url == "https://s3-us-west-2.amazonaws.com/whaledr/megaptera/whalemanifest.json"
    assert LIVE.image_url(OURS) == (
        "https://s3-us-west-2.amazonaws.com/whaledr/megaptera/LJ01D/2019_01_12/OO_HYEA2__YDH_2019_01_12T00_00_05.jpg")
    assert LIVE.sound_url(LEGACY_DELIMITED).endswith(
        "/megaptera/LJ01C/2017_11_20/OO_HYEA1__YDH_2017_11_20T04_00_05.wav")
    # an ID without the delimiter fills {0} only; the app asks for what is left, braces and all
    assert fill(LIVE.image_template, LEGACY_BARE, "___").endswith(f"/megaptera/{LEGACY_BARE}/{{1}}/{{2}}.jpg")
    assert fill("{0}-{0}", "a___b", "___") == "a-{0}"  # String.replace with a string: first occurrence only
    assert s3_location(LIVE.image_url(OURS)) == ("whaledr", "megaptera/" + OURS.replace("___", "/") + ".jpg")
    assert s3_location("https://whaledr.s3.us-west-2.amazonaws.com/megaptera/x.jpg") == ("whaledr", "megaptera/x.jpg")


def test_the_default_run_into_the_live_bucket_agrees_with_the_live_app():
    assert disagreement(LIVE, Layout("whaledr", "megaptera", "jpg")) is None
    assert disagreement(LIVE, Layout(None, "megaptera", "jpg")) is None  # a folder: no bucket to compare


@pytest.mark.parametrize(("layout", "app", "line"), [
    (Layout("whaledr", "megaptera", "png"), LIVE,
     "extension: the app asks for image 'jpg', this run writes 'png'"),
    (Layout("whaledr-test", "megaptera", "jpg"), LIVE,
     "bucket: the app reads its manifests from bucket 'whaledr', this run writes to 'whaledr-test'"),
    (Layout("whaledr", "", "jpg"), LIVE,
     "prefix: the app reads its manifests under 'megaptera', this run writes under ''"),
    (Layout("whaledr", "megaptera", "jpg"),
     dataclasses.replace(LIVE, sound_template="https://s3-us-west-2.amazonaws.com/whaledr/sounds/{0}/{1}/{2}.wav"),
     "prefix: the app reads its sounds under 'sounds', this run writes under 'megaptera'"),
    (Layout("whaledr", "megaptera", "jpg"),
     dataclasses.replace(LIVE, image_template="https://s3-us-west-2.amazonaws.com/whaledr/megaptera/{2}.jpg"),
     "image template: the app asks for key 'megaptera/OO_HYEA2__YDH_2019_01_12T00_00_00.jpg'"),
])
def test_a_disagreement_is_one_line_naming_the_part(layout, app, line):
    problem = disagreement(app, layout)
    assert problem is not None and problem.startswith(line) and "\n" not in problem


def test_a_config_the_app_could_not_use_is_refused():
    with pytest.raises(ValueError, match="schema"):
        AppConfig(database_schema="sampleSummary")
    with pytest.raises(ValueError, match="field"):
        AppConfig(image_template="https://example.org/all.jpg")


@pytest.fixture
def s3_with_cors(monkeypatch):
    """A moto server of our own that answers CORS from the bucket's rules, as S3 does, rather than
    moto's default of allowing every origin on every request. Moto, not SeaweedFS: the test needs S3's
    private objects that a bucket policy opens to anonymous readers, and SeaweedFS without identities
    lets anyone read everything (tests/seaweed.py)."""
    import boto3
    import moto.moto_server.werkzeug_app as werkzeug_app
    from moto.server import ThreadedMotoServer

    monkeypatch.setattr(werkzeug_app, "DISABLE_GLOBAL_CORS", True)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="AKIAWHALEDRAPP000001", aws_secret_access_key="app-test-secret-x")
    client.create_bucket(Bucket="whaledr")
    yield url, client
    server.stop()


def published(url: str, client, ids: list[str], stored: list[str]) -> AppConfig:
    client.put_object(Bucket="whaledr", Key="megaptera/whalemanifest.json", Body=json.dumps(ids).encode(),
                      ContentType="application/json")
    for sid in stored:
        key = "megaptera/" + sid.replace("___", "/")
        client.put_object(Bucket="whaledr", Key=key + ".jpg", Body=b"\xff\xd8\xff", ContentType="image/jpeg")
        client.put_object(Bucket="whaledr", Key=key + ".wav", Body=b"RIFF", ContentType="audio/wav")
    base = f"{url}/whaledr/megaptera"
    return AppConfig(manifest_url=f"{base}/whalemanifest.json", image_template=base + "/{0}/{1}/{2}.jpg",
                     sound_template=base + "/{0}/{1}/{2}.wav", origin=ORIGIN)


@pytest.mark.slow
def test_check_app_reads_like_a_browser_and_names_every_failing_url(s3_with_cors):
    url, client = s3_with_cors
    ids = [OURS, LEGACY_DELIMITED, OURS.replace("00_05", "00_10")]
    app = published(url, client, ids, stored=ids[::2])

    private = appcheck.check_app(app)  # moto, like S3, refuses an anonymous GET of a private object
    assert private.failures == [appcheck.Failure("manifest", "manifest", app.manifest_url, "HTTP 403")]
    assert not private.ok and private.manifest_ids == 0

    client.put_bucket_policy(Bucket="whaledr", Policy=json.dumps(public_read_policy("whaledr", "megaptera")))
    no_cors = appcheck.check_app(app)
    assert no_cors.failures == [
        appcheck.Failure("manifest", "manifest", app.manifest_url, f"no CORS header for {ORIGIN}")]

    client.put_bucket_cors(Bucket="whaledr", CORSConfiguration=cors_rules(ORIGIN))
    result = appcheck.check_app(app)
    assert (result.manifest_ids, result.checked) == (3, 3)
    assert {(f.sample, f.what, f.problem) for f in result.failures} == {
        (LEGACY_DELIMITED, "image", "HTTP 404"), (LEGACY_DELIMITED, "sound", "HTTP 404")}
    assert LEGACY_DELIMITED in appcheck.table(result) and "HTTP 404" in appcheck.table(result)

    client.put_object(Bucket="whaledr", Key="megaptera/" + OURS.replace("___", "/") + ".jpg", Body=b"x",
                      ContentType="image/png")  # as a PNG-era upload would be labelled
    wrong = appcheck.check_app(app, sample=1, seed=0)
    assert wrong.checked == 1
    other = appcheck.check_app(dataclasses.replace(app, origin="https://elsewhere.example"), sample=2, seed=1)
    assert other.failures[0].problem == "no CORS header for https://elsewhere.example"
    everything = appcheck.check_app(app)
    assert ("image", "Content-Type image/png, not image/jpeg") in {(f.what, f.problem) for f in everything.failures}

    client.delete_object(Bucket="whaledr", Key="megaptera/" + OURS.replace("___", "/") + ".jpg")
    client.put_object(Bucket="whaledr", Key="megaptera/" + OURS.replace("___", "/") + ".jpg", Body=b"x",
                      ContentType="image/jpeg")
    published(url, client, [OURS, ids[2]], stored=[])
    assert appcheck.check_app(app).ok
