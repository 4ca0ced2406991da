"""Shipping to the app as a user would: `whaledr blocks`, then `whaledr run --s3-block --firebase-block`,
against a moto S3 server and a Realtime Database stand-in on loopback; and no secret anywhere."""

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


def blocks_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PREFECT_HOME": str(tmp_path / "prefect-home"), "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET, **extra}


def run_env(tmp_path: Path) -> dict[str, str]:
    """No AWS variables: the run must take its credentials from the saved block alone."""
    return {"PREFECT_HOME": str(tmp_path / "prefect-home"), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}


def save_blocks(tmp_path, moto_url, bucket_name, firebase_url=None, secret=FIREBASE_SECRET):
    args = ["blocks", "--bucket", bucket_name, "--folder", FOLDER, "--endpoint-url", moto_url, "--region", "us-east-1"]
    extra = {}
    if firebase_url:
        args += ["--firebase-url", firebase_url]
        extra["WHALEDR_FIREBASE_SECRET"] = secret
    r = run_cli(*args, env=blocks_env(tmp_path, **extra))
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def objects(client, bucket_name) -> dict[str, dict]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name):
        for o in page.get("Contents", []):
            out[o["Key"]] = o
    return out


def test_a_day_ships_to_s3_and_the_app_database_and_a_rerun_uploads_nothing(
    synth_mirror, static_server, tmp_path, moto_url, bucket, rtdb
):
    client, name = bucket
    db = rtdb(secret=FIREBASE_SECRET, data={"sampleCounts": {"older___2018_01_01___x": 7}, "votes": {"u": {"x": 1}}})
    outputs = [save_blocks(tmp_path, moto_url, name, db.url)]
    server = static_server(synth_mirror)
    args = ["run", DAY.isoformat(), "--source", server.url, "--s3-block", "whaledr-s3",
            "--firebase-block", "whaledr-firebase", "--workers", "2", "--cache", str(tmp_path / "cache"), "-v"]
    r = run_cli(*args, env=run_env(tmp_path))
    outputs.append(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "179 clips written" in r.stdout

    ids = expected_ids()
    stored = objects(client, name)
    clip_keys = {f"{FOLDER}/{i.replace('___', '/')}.{ext}" for i in ids for ext in ("png", "wav")}
    assert set(stored) == clip_keys | {f"{FOLDER}/LJ01D/2019_01_12/whaledr-day.json", f"{FOLDER}/whalemanifest.json"}
    for key in sorted(clip_keys)[::40]:
        head = client.head_object(Bucket=name, Key=key)
        assert head["ContentType"] == ("image/png" if key.endswith(".png") else "audio/wav")
    manifest = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    assert manifest == sorted(ids)
    for sid in manifest:  # the app's own URL templates, {prefix}/{0}/{1}/{2}.png and .wav
        parts = sid.split("___")
        assert "{}/{}/{}/{}.png".format(FOLDER, *parts) in stored and "{}/{}/{}/{}.wav".format(FOLDER, *parts) in stored
    assert db.data["sampleCounts"] == {**{i: 0 for i in ids}, "older___2018_01_01___x": 7}
    assert db.data["votes"] == {"u": {"x": 1}}

    r = run_cli(*args, env=run_env(tmp_path))
    outputs.append(r)
    assert r.returncode == 0 and "0 clips written, 179 already present" in r.stdout, r.stdout + r.stderr
    again = objects(client, name)
    changed = {k for k in again if again[k]["ETag"] != stored[k]["ETag"] or again[k]["LastModified"] != stored[k]["LastModified"]}
    assert changed <= {f"{FOLDER}/LJ01D/2019_01_12/whaledr-day.json"}, "a rerun uploads no clip and leaves the manifest"

    db.data["sampleCounts"][sorted(ids)[0]] = 5  # a volunteer saw it meanwhile
    r = run_cli("sync", "--s3-block", "whaledr-s3", "--firebase-block", "whaledr-firebase", "-v", env=run_env(tmp_path))
    outputs.append(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"app manifest: {len(ids)} IDs; database: 0 IDs added, {len(ids)} already there" in r.stdout
    assert db.data["sampleCounts"][sorted(ids)[0]] == 5

    assert_no_secret(tmp_path, outputs, client, name, [S3_SECRET, FIREBASE_SECRET])


def assert_no_secret(tmp_path, outputs, client, bucket_name, secrets):
    """Searched: the commands' output (with -v: Prefect's log lines and tracebacks), the Prefect server's
    whole database (logs, flow and task run parameters, artifacts, states), and every object written."""
    home = tmp_path / "prefect-home"
    db_bytes = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert b"whaledr-s3" in db_bytes and b"whaledr-day" in db_bytes, "the search must see parameters and runs"
    texts = [r.stdout + r.stderr for r in outputs]
    bodies = [client.get_object(Bucket=bucket_name, Key=k)["Body"].read() for k in objects(client, bucket_name)
              if k.endswith(".json")]
    for secret in secrets:
        assert all(secret not in t for t in texts)
        assert secret.encode() not in db_bytes
        assert all(secret.encode() not in b for b in bodies)


def test_a_wrong_firebase_credential_is_a_clear_error_that_writes_nothing_and_leaks_nothing(
    synth_mirror, tmp_path, moto_url, bucket, rtdb
):
    client, name = bucket
    db = rtdb(secret=FIREBASE_SECRET, data={"sampleCounts": {"a": 7}})
    wrong = "fb-wrong-Qz7Tt0Ww3"
    outputs = [save_blocks(tmp_path, moto_url, name, db.url, secret=wrong)]
    r = run_cli("run", DAY.isoformat(), "--source", str(synth_mirror), "--s3-block", "whaledr-s3",
                "--firebase-block", "whaledr-firebase", "--workers", "1", "-v", env=run_env(tmp_path))
    outputs.append(r)
    assert r.returncode == 1
    assert "refused the credential (HTTP 401)" in r.stdout + r.stderr
    assert db.writes() == [] and db.data == {"sampleCounts": {"a": 7}}
    assert len(json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())) == 179
    assert_no_secret(tmp_path, outputs, client, name, [S3_SECRET, wrong])
    record("Secrets: Firebase refuses the secret", faults=1, kinds="401 from the Realtime Database", files=0,
           recovered=0, named=0, finished_by_rerun=0, days=0, days_completed=0, objects_lost=0, secrets_leaked=0)


def test_two_days_finishing_together_both_reach_the_app_manifest(synth_mirror, tmp_path, moto_url, bucket):
    client, name = bucket
    mirror = tmp_path / "mirror"
    subprocess.run(["cp", "-a", str(synth_mirror), str(mirror)], check=True)
    day2 = DAY + dt.timedelta(days=1)
    assert run_cli("synth", str(mirror), "--date", day2.isoformat(), "--files", "3").returncode == 0
    procs = []
    for n, day in enumerate((DAY, day2)):
        home = tmp_path / f"home{n}"
        save_blocks(home, moto_url, name)
        env = {**os.environ, **run_env(home)}
        env.pop("PREFECT_API_URL", None)
        procs.append(subprocess.Popen([*WHALEDR, "run", day.isoformat(), "--source", str(mirror), "--s3-block",
                                       "whaledr-s3", "--workers", "1"], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent))
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, out + err
    manifest = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    per_day = [
        {c["id"] for c in json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/LJ01D/{d:%Y_%m_%d}/whaledr-day.json")["Body"].read())["clips"]}
        for d in (DAY, day2)
    ]
    assert per_day[0] == expected_ids() and len(per_day[1]) > 150
    assert manifest == sorted(per_day[0] | per_day[1])
    stored = objects(client, name)
    assert all(f"{FOLDER}/{sid.replace('___', '/')}.{e}" in stored for sid in manifest for e in ("png", "wav"))
