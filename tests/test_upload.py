"""The upload step: what a worker staged reaches the output whole, WAV before image, and what does not
arrive is named, kept staged for a retry, and never listed."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from whaledr_core.clips import Skip
from whaledr_core.fileclips import FileResult, FileStatus, with_upload
from whaledr_core.naming import clip_key, sample_id
from whaledr_core.sinks import LocalSink, S3Sink
from whaledr_core.upload import (
    STAGING_FOLDER,
    Staged,
    Staging,
    day_run_folder,
    end_day_run,
    not_arrived,
    staging_root,
    upload,
)

DAY = dt.date(2019, 1, 12)
IDS = [sample_id("LJ01D", DAY, f"OO_HYEA2__YDH_2019_01_12T00_00_{s:02d}") for s in (0, 5, 10)]


def staged_clips(folder: Path, prefix: str) -> Staged:
    """Three clips written as a worker writes them: through the staging sink, WAV then image."""
    sink = Staging(str(folder), prefix).sink()
    objects = []
    for i, sid in enumerate(IDS):
        for ext, content_type, data in (("wav", "audio/wav", b"RIFF" + bytes([i]) * 1000),
                                        ("jpg", "image/jpeg", b"\xff\xd8\xff" + bytes([i]) * 200)):
            key = clip_key(prefix, sid, ext)
            sink.put(key, data, content_type)
            objects.append((sid, key, content_type))
    return Staged("OO-HYEA2--YDH-2019-01-12T00:00:00.000015Z.mseed", str(folder), tuple(objects), present=2)


def test_a_folder_output_gets_its_clips_by_a_rename_the_bytes_written_once(tmp_path):
    """A folder output stages inside itself, hidden from its listing; the upload renames each object
    into place (the same inode: no byte copied), counts what it moved, and leaves no staging folder."""
    out = tmp_path / "out"
    root = staging_root(str(out), tmp_path / "cache")
    assert root == out / STAGING_FOLDER  # inside the output: the same filesystem
    run = day_run_folder(root, "LJ01D", DAY)
    staged = staged_clips(run / "0", "app")
    inodes = {key: os.stat(Path(staged.folder) / key).st_ino for _, key, _ in staged.objects}
    sink = LocalSink(out, "app")
    assert sink.keys("app/") == {}  # nothing staged shows in the output's listing

    done = upload(staged, sink)
    assert (done.objects, done.bytes, done.present, done.failed) == (6, 3 * 1004 + 3 * 203, 2, {})
    assert {key: os.stat(out / key).st_ino for key in inodes} == inodes  # moved, not copied
    assert sink.get(clip_key("app", IDS[1], "wav")) == b"RIFF" + b"\x01" * 1000
    assert not Path(staged.folder).exists() and not_arrived(staged) == set()
    end_day_run(run)
    assert not root.exists()  # no staging folder left in the published tree
    assert done.describe("f") == "f: 6 objects (0.0 MB) uploaded, 2 clips already present"


def test_an_s3_output_gets_each_object_with_its_content_type(tmp_path, bucket):
    """An S3 output stages in the download cache; each object is PUT with its content type and size."""
    client, name = bucket
    staged = staged_clips(staging_root(None, tmp_path / "cache") / "run" / "0", "megaptera")
    done = upload(staged, S3Sink(client, name, "megaptera", concurrency=4))
    assert done.objects == 6 and not done.failed
    for sid in IDS:
        wav = client.head_object(Bucket=name, Key=clip_key("megaptera", sid, "wav"))
        jpg = client.head_object(Bucket=name, Key=clip_key("megaptera", sid, "jpg"))
        assert (wav["ContentType"], wav["ContentLength"]) == ("audio/wav", 1004)
        assert (jpg["ContentType"], jpg["ContentLength"]) == ("image/jpeg", 203)
    assert not Path(staged.folder).exists()


def test_a_clip_that_does_not_arrive_stays_staged_is_not_listed_and_a_retry_moves_the_rest(tmp_path):
    """A clip whose image cannot be moved is named with its error, stays staged, and its file's result
    skips its window as an error; a retry moves only what is still staged."""
    out = tmp_path / "out"
    staged = staged_clips(day_run_folder(staging_root(str(out), tmp_path), "LJ01D", DAY) / "0", "")
    blocker = out / clip_key("", IDS[2], "jpg")
    blocker.mkdir(parents=True)  # a folder where the third clip's image must go: the rename fails
    done = upload(staged, LocalSink(out))
    assert list(done.failed) == [IDS[2]] and "IsADirectoryError" in done.failed[IDS[2]]
    assert done.objects == 5  # the third clip's WAV went first, as always; its image did not
    assert not_arrived(staged) == {IDS[2]} and Path(staged.folder).exists()

    r = FileResult(staged.name, "url", 1, 0, 3, clips=[(sid, k, 1.0) for k, sid in enumerate(IDS)], written=3,
                   skipped=[(3, Skip.GAP, 0.0)])
    r = with_upload(r, done.failed, done.seconds)
    assert [c[0] for c in r.clips] == IDS[:2] and r.written == 2
    assert r.skipped == [(2, Skip.ERROR, 1.0), (3, Skip.GAP, 0.0)]
    assert r.status == FileStatus.FAILED and IDS[2] in (r.error or "") and "not uploaded" in (r.error or "")

    blocker.rmdir()
    again = upload(staged, LocalSink(out))  # the task's retry: only what is still staged moves
    assert (again.objects, again.failed) == (1, {})
    assert (out / clip_key("", IDS[2], "jpg")).read_bytes().startswith(b"\xff\xd8\xff")
    assert not Path(staged.folder).exists()


def test_a_new_run_of_a_day_removes_what_a_killed_run_of_that_day_left_staged(tmp_path):
    """A run killed before its end leaves its staging folder; the next run of that day removes it,
    and leaves another day's alone."""
    root = tmp_path / STAGING_FOLDER
    killed = day_run_folder(root, "LJ01D", DAY)
    staged_clips(killed / "3", "")
    other_day = day_run_folder(root, "LJ01D", DAY + dt.timedelta(days=1))
    fresh = day_run_folder(root, "LJ01D", DAY)
    assert not killed.exists() and fresh.exists() and other_day.exists()


@pytest.mark.slow  # the session's Prefect server
@pytest.mark.filterwarnings("ignore:Logger 'prefect.task_runs' attempted to send logs")  # a task run with no flow
def test_an_upload_is_a_task_run_that_says_what_it_moved_and_retries_what_did_not_arrive(tmp_path, prefect_api):
    """A file's upload is its own task run, named for the file. An attempt that cannot move a clip fails,
    its message naming what moved and what did not; the retry moves only what is left, and the run ends
    Completed with a state message saying objects, bytes and clips already present (what the UI shows)."""
    import time

    from prefect.client.orchestration import get_client

    from flows.params import Output
    from flows.tasks import upload as upload_task

    out = tmp_path / "out"
    staged = staged_clips(day_run_folder(staging_root(str(out), tmp_path), "LJ01D", DAY) / "0", "")
    blocker = out / clip_key("", IDS[2], "jpg")
    blocker.mkdir(parents=True)  # the third clip's image cannot be moved in
    failed_attempts: list[str] = []

    def mended(task, run, state) -> bool:
        """Prefect asks before it retries: the fault is gone by then."""
        failed_attempts.append(state.message or "")
        blocker.rmdir()
        return True

    state = upload_task.with_options(retry_delay_seconds=1, retry_condition_fn=mended)(
        staged, Output(folder=str(out)), return_state=True)
    assert state.is_completed(), state
    assert state.message == f"{staged.name}: 1 objects (0.0 MB) uploaded, 2 clips already present"
    assert state.result().objects == 1 and not Path(staged.folder).exists()
    assert len(failed_attempts) == 1
    assert "5 objects" in failed_attempts[0] and "1 clips not uploaded" in failed_attempts[0], failed_attempts
    assert "IsADirectoryError" in failed_attempts[0]

    deadline = time.monotonic() + 60  # the server records a task run's states from events, a moment later
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_task_run(state.state_details.task_run_id)
            history = [s.name for s in client.read_task_run_states(run.id)]
            if (run.state and run.state.is_completed()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert run.name == f"upload {staged.name}" and run.state and run.state.message == state.message
    assert "AwaitingRetry" in history and history[-1] == "Completed", history
