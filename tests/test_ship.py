"""Shipping to the app as a user would: `whaledr blocks`, then `whaledr run --s3-block --firebase-block`,
against a real S3 server (SeaweedFS) and a Realtime Database stand-in on loopback; and no secret anywhere.

Most tests talk to the session's Prefect server, as a user with a server does: a command that starts a
server of its own pays ~15 s for it on two cores (twice that on a fresh home, which it migrates), and
these tests run 17 commands. The wrong-credential test keeps the way a user without a server works:
each command on a server of its own over the home's database, the blocks one saved found by the next
(tests/test_faults.py ships that way too)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import DAY, S3_KEY_ID, S3_SECRET, WHALEDR, run_cli
from faultreport import record
from test_end_to_end import expected_ids

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

FOLDER = "whaledr-test"
FIREBASE_SECRET = "fb-secret-Vn3Yx8QpL2"


def blocks_env(tmp_path: Path, api: dict | None = None, **extra: str) -> dict[str, str]:
    """`api`: the env of `prefect_api` (the session's server); without it, each command starts its own."""
    return {"PREFECT_HOME": str(tmp_path / "prefect-home"), "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET, **(api or {}), **extra}


def run_env(tmp_path: Path, api: dict | None = None) -> dict[str, str]:
    """No AWS variables: the run must take its credentials from the saved block alone."""
    return {"PREFECT_HOME": str(tmp_path / "prefect-home"), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
            **(api or {})}


def save_blocks(tmp_path, s3_url, bucket_name, firebase_url=None, secret=FIREBASE_SECRET, api=None):
    args = ["blocks", "--bucket", bucket_name, "--folder", FOLDER, "--endpoint-url", s3_url, "--region", "us-east-1"]
    extra = {}
    if firebase_url:
        args += ["--firebase-url", firebase_url]
        extra["WHALEDR_FIREBASE_SECRET"] = secret
    r = run_cli(*args, env=blocks_env(tmp_path, api, **extra))
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def objects(client, bucket_name) -> dict[str, dict]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name):
        for o in page.get("Contents", []):
            out[o["Key"]] = o
    return out


@pytest.fixture
def api(prefect_api, prefect_session_server):
    """The session's Prefect server: the env that points a command at it, and the server (whose
    database and log `assert_no_secret` searches)."""
    return prefect_api, prefect_session_server


@pytest.mark.slow
def test_a_day_ships_to_s3_and_the_app_database_and_a_rerun_uploads_nothing(
    synth_mirror, static_server, tmp_path, s3_url, bucket, rtdb, api
):
    client, name = bucket
    api_env, prefect_server = api
    db = rtdb(secret=FIREBASE_SECRET, data={"sampleCounts": {"older___2018_01_01___x": 7}, "votes": {"u": {"x": 1}}})
    outputs = [save_blocks(tmp_path, s3_url, name, db.url, api=api_env)]
    server = static_server(synth_mirror)
    args = ["run", DAY.isoformat(), "--source", server.url, "--s3-block", "whaledr-s3",
            "--firebase-block", "whaledr-firebase", "--workers", "2", "--cache", str(tmp_path / "cache"), "-v"]
    r = run_cli(*args, env=run_env(tmp_path, api_env))
    outputs.append(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "179 clips written" in r.stdout

    ids = expected_ids()
    stored = objects(client, name)
    clip_keys = {f"{FOLDER}/{i.replace('___', '/')}.{ext}" for i in ids for ext in ("jpg", "wav")}
    assert set(stored) == clip_keys | {f"{FOLDER}/LJ01D/2019_01_12/whaledr-day.json", f"{FOLDER}/whalemanifest.json",
                                       f"{FOLDER}/LJ01D/2019_01_12/overview.png"}
    for key in sorted(clip_keys)[::40]:
        head = client.head_object(Bucket=name, Key=key)
        assert head["ContentType"] == ("image/jpeg" if key.endswith(".jpg") else "audio/wav")
    manifest = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    assert manifest == sorted(ids)
    for sid in manifest:  # the app's own URL templates, {prefix}/{0}/{1}/{2}.jpg and .wav
        parts = sid.split("___")
        assert "{}/{}/{}/{}.jpg".format(FOLDER, *parts) in stored and "{}/{}/{}/{}.wav".format(FOLDER, *parts) in stored
    assert db.data["sampleCounts"] == {**{i: 0 for i in ids}, "older___2018_01_01___x": 7}
    assert db.data["votes"] == {"u": {"x": 1}}

    r = run_cli(*args, env=run_env(tmp_path, api_env))
    outputs.append(r)
    assert r.returncode == 0 and "0 clips written, 179 already present" in r.stdout, r.stdout + r.stderr
    again = objects(client, name)
    changed = {k for k in again
               if again[k]["ETag"] != stored[k]["ETag"] or again[k]["LastModified"] != stored[k]["LastModified"]}
    assert changed <= {f"{FOLDER}/LJ01D/2019_01_12/whaledr-day.json"}, "a rerun uploads no clip and leaves the manifest"

    db.data["sampleCounts"][sorted(ids)[0]] = 5  # a volunteer saw it meanwhile
    r = run_cli("sync", "--s3-block", "whaledr-s3", "--firebase-block", "whaledr-firebase", "-v",
                env=run_env(tmp_path, api_env))
    outputs.append(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"app manifest: {len(ids)} IDs; database: 0 IDs added, {len(ids)} already there" in r.stdout
    assert db.data["sampleCounts"][sorted(ids)[0]] == 5

    assert_no_secret(tmp_path, outputs, client, name, [S3_SECRET, FIREBASE_SECRET], prefect_server)


def assert_no_secret(tmp_path, outputs, client, bucket_name, secrets, server=None):
    """Searched: the commands' output (with -v: Prefect's log lines and tracebacks), the Prefect server's
    whole database (logs, flow and task run parameters, artifacts, states) and log, and every object
    written. The server is `server` (a conftest.PrefectServer) if the commands used one, else the
    servers they started in tmp_path/prefect-home, which hold their database and log."""
    files = [*server.home.rglob("*"), server.log] if server else [*(tmp_path / "prefect-home").rglob("*")]
    db_bytes = b"".join(p.read_bytes() for p in files if p.is_file())
    assert b"whaledr-s3" in db_bytes and b"whaledr-day" in db_bytes, "the search must see parameters and runs"
    texts = [r.stdout + r.stderr for r in outputs]
    bodies = [client.get_object(Bucket=bucket_name, Key=k)["Body"].read() for k in objects(client, bucket_name)
              if k.endswith(".json")]
    for secret in secrets:
        assert all(secret not in t for t in texts)
        assert secret.encode() not in db_bytes
        assert all(secret.encode() not in b for b in bodies)


@pytest.mark.slow
def test_a_wrong_firebase_credential_is_a_clear_error_that_writes_nothing_and_leaks_nothing(
    synth_mirror, tmp_path, s3_url, bucket, rtdb
):
    """Without a Prefect server, as a user without one: `whaledr blocks` and `whaledr run` each start
    a server of their own on the home's database, and the run finds the blocks saved before it."""
    client, name = bucket
    db = rtdb(secret=FIREBASE_SECRET, data={"sampleCounts": {"a": 7}})
    wrong = "fb-wrong-Qz7Tt0Ww3"
    outputs = [save_blocks(tmp_path, s3_url, name, db.url, secret=wrong)]
    r = run_cli("run", DAY.isoformat(), "--source", str(synth_mirror), "--s3-block", "whaledr-s3",
                "--firebase-block", "whaledr-firebase", "--workers", "1", "-v", env=run_env(tmp_path))
    outputs.append(r)
    assert r.returncode == 1
    assert "refused the credential (HTTP 401)" in r.stdout + r.stderr
    assert db.writes() == [] and db.data == {"sampleCounts": {"a": 7}}
    listed = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    assert len(listed) == 179, r.stdout[-3000:] + r.stderr[-3000:]
    assert_no_secret(tmp_path, outputs, client, name, [S3_SECRET, wrong])
    record("Secrets: Firebase refuses the secret", faults=1, kinds="401 from the Realtime Database", files=0,
           recovered=0, named=0, finished_by_rerun=0, days=0, days_completed=0, objects_lost=0, secrets_leaked=0)


@pytest.mark.slow
def test_two_days_finishing_together_both_reach_the_app_manifest(synth_mirror, tmp_path, s3_url, bucket, api):
    """Two runs of `whaledr run` at once, each its own process and home, the blocks saved once on
    their Prefect server: both days' IDs end up in the one app manifest."""
    client, name = bucket
    api_env, _ = api
    mirror = tmp_path / "mirror"
    subprocess.run(["cp", "-a", str(synth_mirror), str(mirror)], check=True)
    day2 = DAY + dt.timedelta(days=1)
    assert run_cli("synth", str(mirror), "--date", day2.isoformat(), "--files", "3").returncode == 0
    save_blocks(tmp_path, s3_url, name, api=api_env)
    procs = []
    for n, day in enumerate((DAY, day2)):
        env = {**os.environ, **run_env(tmp_path / f"home{n}", api_env)}
        procs.append(subprocess.Popen([*WHALEDR, "run", day.isoformat(), "--source", str(mirror), "--s3-block",
                                       "whaledr-s3", "--workers", "1"], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent))
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, out + err
    manifest = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    records = [json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/LJ01D/{d:%Y_%m_%d}/whaledr-day.json")
                          ["Body"].read()) for d in (DAY, day2)]
    per_day = [{c["id"] for c in record["clips"]} for record in records]
    assert per_day[0] == expected_ids() and len(per_day[1]) > 150
    assert manifest == sorted(per_day[0] | per_day[1])
    stored = objects(client, name)
    assert all(f"{FOLDER}/{sid.replace('___', '/')}.{e}" in stored for sid in manifest for e in ("jpg", "wav"))


# The live app's layout (DESIGN.md "The app contract"): bucket `whaledr`, prefix `megaptera`; here the
# bucket is the test's own, on the S3 server, and the templates are the live ones with its address.
LEGACY = ["LJ01A___2018_03_02___OO_HYVM1__YDH_2018_03_02T10_15_30",  # made by whaledr/whalebooks
          "LJ01C___2017_11_20___OO_HYEA1__YDH_2017_11_20T04_00_05",
          "OO_HYVM1__YDH_2017_10_06T05_16_45"]  # an older ID without ___ (as in the live tutorial's images)


@pytest.mark.slow
def test_the_live_app_contract_end_to_end_with_a_service_account(synth_mirror, tmp_path, s3_url, bucket, rtdb, api):
    """The app block holds the live templates (pointed at the test's bucket) and a service account; a
    PNG run is refused before any work; the default run gives every new ID a square JPEG and a WAV where
    the app's URL rule looks, keeps older samples in the manifest and the database, and tells the
    database with a token minted from the service account; check-app then finds only the older
    samples' objects missing; no secret shows anywhere."""
    import boto3
    from PIL import Image
    from tokenserver import TokenEndpoint

    from whaledr_core.app import AppConfig, cors_rules, fill, public_read_policy

    client, name = bucket
    api_env, prefect_server = api
    google = TokenEndpoint()
    try:
        volunteers = {"sampleCounts": {LEGACY[0]: 9, LEGACY[2]: 4}, "votes": {"u": {LEGACY[0]: 1}},
                      "userSeenSamples": {"u": {LEGACY[0]: 1}}}
        db = rtdb(accepts=google.valid, data=json.loads(json.dumps(volunteers)))
        client.put_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json", Body=json.dumps(LEGACY).encode(),
                          ContentType="application/json")
        key_file = tmp_path / "service-account.json"
        key_file.write_text(json.dumps(google.service_account_info()))
        base = f"{s3_url}/{name}/{FOLDER}"
        app = AppConfig(manifest_url=f"{base}/whalemanifest.json", image_template=base + "/{0}/{1}/{2}.jpg",
                        sound_template=base + "/{0}/{1}/{2}.wav", database_url=db.url)
        outputs = [save_blocks(tmp_path, s3_url, name, api=api_env)]
        r = run_cli("app-block", "--name", "live", "--manifest-url", app.manifest_url, "--image-template",
                    app.image_template, "--sound-template", app.sound_template, "--database-url", db.url,
                    "--service-account", str(key_file), env=blocks_env(tmp_path, api_env))
        outputs.append(r)
        assert r.returncode == 0 and "saved whaledr App block 'live'" in r.stdout, r.stdout + r.stderr
        key_file.unlink()  # the block holds it now

        run = ["run", DAY.isoformat(), "--source", str(synth_mirror), "--s3-block", "whaledr-s3", "--app", "live",
               "--workers", "2", "--cache", str(tmp_path / "cache"), "-v"]
        r = run_cli(*run[:-1], "--image-format", "png", env=run_env(tmp_path, api_env))  # without -v: the user's view
        outputs.append(r)
        assert r.returncode == 2, r.stdout + r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert "extension: the app asks for image 'jpg', this run writes 'png'" in line
        assert set(objects(client, name)) == {f"{FOLDER}/whalemanifest.json"}, "refused before any work"

        r = run_cli(*run, env=run_env(tmp_path, api_env))
        outputs.append(r)
        assert r.returncode == 0 and "179 clips written" in r.stdout, r.stdout + r.stderr
        ids = expected_ids()
        manifest = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
        assert manifest == sorted(ids | set(LEGACY))
        anonymous = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="x",
                                 aws_secret_access_key="y")
        for sid in sorted(ids)[::30]:  # the app's own rule, then the object it names
            image_bucket, image_key = fill(app.image_template, sid, "___").split(f"{s3_url}/")[1].split("/", 1)
            obj = anonymous.get_object(Bucket=image_bucket, Key=image_key)
            assert obj["ContentType"] == "image/jpeg"
            with Image.open(obj["Body"]) as img:
                assert (img.format, img.size) == ("JPEG", (512, 512))
            sound_key = fill(app.sound_template, sid, "___").split(f"{s3_url}/{name}/")[1]
            assert client.head_object(Bucket=name, Key=sound_key)["ContentType"] == "audio/wav"
        assert db.data["sampleCounts"] == {**{i: 0 for i in ids}, LEGACY[0]: 9, LEGACY[2]: 4}
        assert {k: v for k, v in db.data.items() if k != "sampleCounts"} == {
            k: v for k, v in volunteers.items() if k != "sampleCounts"}
        assert google.grants and not google.refused

        r = run_cli("sync", "--s3-block", "whaledr-s3", "--app", "live", "-v", env=run_env(tmp_path, api_env))
        outputs.append(r)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"app manifest: {len(ids) + len(LEGACY)} IDs; database: 1 IDs added" in r.stdout  # LEGACY[1]
        assert json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read()) == (
            sorted(ids | set(LEGACY)))

        client.put_bucket_policy(Bucket=name, Policy=json.dumps(public_read_policy(name, FOLDER)))
        client.put_bucket_cors(Bucket=name, CORSConfiguration=cors_rules(app.origin))  # as README says to
        r = run_cli("check-app", "--app", "live", env=run_env(tmp_path, api_env))
        outputs.append(r)
        assert r.returncode == 1, r.stdout + r.stderr
        failing = {row.split()[0] for row in r.stdout.splitlines()[1:] if row.strip()}
        assert failing == set(LEGACY), r.stdout  # every ID this pipeline made loads; the older ones are elsewhere
        assert f"{len(ids) + len(LEGACY)} of {len(ids) + len(LEGACY)} samples checked" in r.stderr

        secrets = [S3_SECRET, google.private_pem.splitlines()[5], *google.issued]
        assert_no_secret(tmp_path, outputs, client, name, secrets, prefect_server)
    finally:
        google.stop()
