"""A day with a publish budget as an operator runs it: `whaledr synth --events`, `whaledr blocks`,
`whaledr run --publish top:K` to a real S3 bucket (SeaweedFS) and a Realtime Database stand-in, a rerun with a
larger budget, and `whaledr overview`; against the session's Prefect server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_selection import FOUND

from whaledr_core import events
from whaledr_core.catalog import get_hydrophone
from whaledr_core.synth import ground_truth_path

from conftest import DAY, S3_KEY_ID, S3_SECRET, run_cli

pytestmark = pytest.mark.slow  # servers, pools and a synthetic stretch of a day

FOLDER = "whaledr-sel"
SECRET = "fb-secret-Sel15Kq"
DAY_KEY = f"{FOLDER}/LJ01D/2019_01_12"


def objects(client, name: str) -> dict[str, dict]:
    return {o["Key"]: o for page in client.get_paginator("list_objects_v2").paginate(Bucket=name)
            for o in page.get("Contents", [])}


def window(sid: str) -> int:
    """The window of a sample ID (its stem ends in the clip's start, HH_MM_SS)."""
    h, m, s = (int(x) for x in sid.rsplit("T", 1)[1].split("_")[:3])
    return (3600 * h + 60 * m + s) // 5


def test_a_top_budget_day_publishes_k_calls_keeps_them_on_a_rerun_and_draws_the_overview(
        tmp_path, prefect_api, s3_url, bucket, rtdb):
    client, name = bucket
    mirror = tmp_path / "mirror"
    r = run_cli("synth", str(mirror), "--date", DAY.isoformat(), "--files", "4", "--events", "10")
    assert r.returncode == 0 and "ground truth" in r.stdout, r.stdout + r.stderr
    evs = events.loads(ground_truth_path(mirror, get_hydrophone("LJ01D"), DAY).read_bytes())
    calls = {k for e in evs if e.kind in FOUND for k in e.windows(5)}
    any_call = {k for e in evs if e.is_call for k in e.windows(5, 0.05)}
    clicks = {k for e in evs if e.kind == "click" for k in e.windows(5, 0.0)} - any_call
    k = len(calls)

    db = rtdb(secret=SECRET, data={"sampleCounts": {"older___2018_01_01___x": 3}})
    env = {**prefect_api, "PREFECT_HOME": str(tmp_path / "home"), "AWS_ACCESS_KEY_ID": S3_KEY_ID,
           "AWS_SECRET_ACCESS_KEY": S3_SECRET, "WHALEDR_FIREBASE_SECRET": SECRET}
    r = run_cli("blocks", "--bucket", name, "--folder", FOLDER, "--endpoint-url", s3_url, "--region", "us-east-1",
                "--aws-block", "sel-aws", "--s3-block", "sel-s3", "--firebase-url", db.url,
                "--firebase-block", "sel-fb", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    run_env = {**prefect_api, "PREFECT_HOME": str(tmp_path / "home"), "AWS_ACCESS_KEY_ID": "",
               "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "AWS_CONFIG_FILE": str(tmp_path / "none")}
    args = ["run", DAY.isoformat(), "--source", str(mirror), "--s3-block", "sel-s3", "--firebase-block", "sel-fb",
            "--workers", "2", "--cache", str(tmp_path / "cache")]

    r = run_cli(*args, "--publish", f"top:{k}", env=run_env)
    assert r.returncode == 0, r.stdout + r.stderr
    stored = objects(client, name)
    app_ids = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    assert len(app_ids) == k
    assert set(db.data["sampleCounts"]) == set(app_ids) | {"older___2018_01_01___x"}
    picked = {window(sid) for sid in app_ids}
    assert len(picked & any_call) >= 0.8 * k, (sorted(picked - any_call), sorted(calls - picked))
    assert len(picked & clicks) <= 1
    clips = {key for key in stored if key.endswith((".jpg", ".wav"))}
    assert clips == {f"{FOLDER}/{sid.replace('___', '/')}.{ext}" for sid in app_ids for ext in ("jpg", "wav")}
    assert client.head_object(Bucket=name, Key=f"{DAY_KEY}/overview.png")["ContentType"] == "image/png"
    day = json.loads(client.get_object(Bucket=name, Key=f"{DAY_KEY}/whaledr-day.json")["Body"].read())
    assert day["publish"] == {"budget": f"top:{k}", "store": "published", "budgets": [f"top:{k}"]}
    assert sorted(v for v in day["published"].values() if v != "below_budget") == ["top"] * k
    assert len(day["published"]) == 4 * 60 - day["totals"]["skipped_by_reason"].get("short", 0)
    assert _overview_artifact(name).count(f"/{name}/{DAY_KEY}/overview.png") == 2  # inline image and its link

    r = run_cli(*args, "--publish", f"top:{k + 10}+random:5", env=run_env)
    assert r.returncode == 0, r.stdout + r.stderr
    again = json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read())
    assert set(app_ids) < set(again) and len(again) >= k + 15
    assert set(db.data["sampleCounts"]) == set(again) | {"older___2018_01_01___x"}
    assert "storing" in r.stdout + r.stderr or len(objects(client, name)) > len(stored)
    assert f"the budget top:{k + 10}+random:5 widens what volunteers were given" in r.stdout + r.stderr
    day = json.loads(client.get_object(Bucket=name, Key=f"{DAY_KEY}/whaledr-day.json")["Body"].read())
    assert day["publish"]["budgets"] == [f"top:{k}", f"top:{k + 10}+random:5"]

    client.delete_object(Bucket=name, Key=f"{DAY_KEY}/overview.png")
    r = run_cli("overview", DAY.isoformat(), "--s3-block", "sel-s3", "--cache", str(tmp_path / "cache"),
                "--workers", "2", env=run_env)
    assert r.returncode == 0 and "overview.png" in r.stdout, r.stdout + r.stderr
    png = client.get_object(Bucket=name, Key=f"{DAY_KEY}/overview.png")["Body"].read()
    assert png.startswith(b"\x89PNG")


def _overview_artifact(bucket_name: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:  # the newest: other tests on the session server made others
        (artifact,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["whaledr-overview-lj01d-2019-01-12"])), sort=ArtifactSort.CREATED_DESC, limit=1)
    return str(artifact.data)


def test_overview_of_a_day_never_run_says_so(tmp_path: Path):
    r = run_cli("overview", DAY.isoformat(), "--out", str(tmp_path))
    assert r.returncode == 1 and "no day manifest for LJ01D 2019-01-12" in r.stderr
