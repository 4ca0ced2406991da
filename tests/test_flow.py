"""The day flow on the session's Prefect server: tasks, artifacts, and the flow's end state."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import numpy as np
import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

from flows.day import day_flow
from flows.params import SAFE_BUDGET, Downloads, Output, Selection
from whaledr_core import daymanifest
from whaledr_core.overview import LEFT, MARK, RIGHT, SCORE_H, TOP

from conftest import DAY

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them


async def _artifacts(flow_run_id):
    async with get_client() as client:
        arts = await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        return arts, runs


async def _logs(flow_run_id) -> list[str]:
    async with get_client() as client:
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        return [log.message for log in logs]


def test_a_day_ends_with_its_summary_and_shows_what_was_stored_published_and_drawn(prefect_api, mirror_copy,
                                                                                   tmp_path):
    """The day flow's own defaults publish a budget; the run's state message is the day's summary
    line; the progress artifact counts the windows scored, the clips stored and published (not the
    first pass's none); the overview artifact embeds the picture; the table has the day's figures."""
    out = tmp_path / "out"
    state = day_flow(day=DAY, hydrophone="LJ01D", source=str(mirror_copy), output=Output(folder=str(out)),
                     downloads=Downloads(cache=str(tmp_path / "cache")), workers=2, return_state=True)
    assert state.is_completed()
    record = json.loads((out / "LJ01D" / "2019_01_12" / "whaledr-day.json").read_text())
    assert record["publish"] == {"budget": SAFE_BUDGET, "store": "published", "budgets": [SAFE_BUDGET]}
    totals = state.result()
    assert totals == record["totals"] and (totals["published"], totals["clips_written"]) == (50, 50)
    assert re.sub(r" in [0-9.]+ s;", ";", state.message) == daymanifest.summary_line(record)
    assert "50 clips written, 0 already present, 50 published (top:40+random:10)" in state.message
    arts, runs = asyncio.run(_artifacts(state.state_details.flow_run_id))
    table = [a for a in arts if a.type == "table"]
    assert len(table) == 1 and table[0].key == "whaledr-day-lj01d-2019-01-12"
    assert '"published": 50' in str(table[0].data).replace("'", '"')
    (progress,) = [a for a in arts if a.type == "progress"]
    assert progress.data == 100.0
    # the Artifacts tab shows the description, not the figure: the description carries it
    again = len({c["file"] for c in record["clips"]})
    assert progress.description == (
        f"LJ01D 2019-01-12: 3 of 3 files scored, {again} of {again} read again to store the chosen clips (100 %): "
        f"{len(record['scores'])} windows scored, 50 clips stored, 50 published")
    (overview,) = [a for a in arts if a.key == "whaledr-overview-lj01d-2019-01-12"]
    png = (out / "LJ01D" / "2019_01_12" / "overview.png").read_bytes()
    assert f"](data:image/png;base64,{base64.b64encode(png).decode()})" in overview.data  # the picture itself
    names = [r.name.split(" ")[0] for r in runs]
    # a folder's files are read where they lie: no download task runs for them
    assert (names.count("process"), names.count("download")) == (3 + again, 0), names
    assert sum(n.startswith("list-day") for n in names) == 1
    assert sum(n.startswith("write-day-manifest") for n in names) == 1
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.name) for r in runs]


def test_a_wider_budget_over_a_finished_day_warns_and_redraws_the_overview_ticks(prefect_api, mirror_copy, tmp_path):
    """A rerun with `all` after `top:5` reads no file for scores (every file reused), warns that it
    widens what volunteers got, keeps both budgets in the manifest, and the stored overview's ticks
    are the manifest's published windows, not the first run's five."""
    out = tmp_path / "out"
    for publish in ("top:5", "all"):
        state = day_flow(day=DAY, source=str(mirror_copy), output=Output(folder=str(out)), workers=2,
                         selection=Selection(publish=publish), return_state=True)
        assert state.is_completed(), state.message
    record = json.loads((out / "LJ01D" / "2019_01_12" / "whaledr-day.json").read_text())
    assert record["publish"]["budgets"] == ["top:5", "all"] and record["totals"]["published"] == 179
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    logs = asyncio.run(_logs(state.state_details.flow_run_id))
    assert "0 files to process, 3 finished by an earlier run" in logs  # scores from the manifest: no file read
    assert any("the budget all widens what volunteers were given: the day was published with top:5 (5 clips)" in m
               for m in logs), logs
    with Image.open(out / "LJ01D" / "2019_01_12" / "overview.png") as img:
        pixels = np.asarray(img)
    ticks = set(np.flatnonzero(pixels[TOP + SCORE_H, LEFT:-RIGHT] == MARK))
    assert ticks == {k * 1440 // 17280 for k in daymanifest.published_windows(record)}
    assert len(ticks) > 5


def test_over_http_each_file_is_downloaded_by_its_own_task_then_processed(prefect_api, synth_mirror, static_server,
                                                                           tmp_path):
    server = static_server(synth_mirror)
    state = day_flow(day=DAY, hydrophone="LJ01D", source=server.url, output=Output(folder=str(tmp_path / "out")),
                     downloads=Downloads(cache=str(tmp_path / "cache")), workers=2, selection=Selection(),
                     return_state=True)
    assert state.is_completed() and state.result()["clips"] == 179
    _, runs = asyncio.run(_artifacts(state.state_details.flow_run_id))
    names = sorted(r.name for r in runs if r.name.split(" ")[0] in ("download", "process"))
    files = sorted(p.name for p in synth_mirror.rglob("*.mseed"))
    assert names == sorted([f"download {f}" for f in files] + [f"process {f}" for f in files]), names
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.name) for r in runs]


def test_a_day_with_no_data_fails_with_one_line_naming_the_folders_tried(prefect_api, mirror_copy, tmp_path):
    state = day_flow(day=DAY.replace(day=20), source=str(mirror_copy), output=Output(folder=str(tmp_path / "out")),
                     return_state=True)
    assert state.is_failed()
    tried = " or ".join(f"{mirror_copy}/CE02SHBP/LJ01D/{inst}/2019/01/20/" for inst in ("11-HYDBBA106", "HYDBBA106"))
    assert state.message == f"no data files for LJ01D on 2019-01-20: no day folder at {tried}"
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the run's last lines are still on their way to the server
    logs = asyncio.run(_logs(state.state_details.flow_run_id))
    assert any(state.message in line for line in logs)
    assert not any("Traceback" in line or "listed in None" in line for line in logs), logs


def test_an_unknown_hydrophone_is_refused_by_the_form_before_the_flow_runs(prefect_api, tmp_path):
    from prefect.exceptions import ParameterTypeError

    try:
        day_flow.validate_parameters({"day": DAY, "hydrophone": "XX99"})
    except ParameterTypeError as e:
        assert "LJ01D" in str(e)  # the message lists the choices
    else:
        raise AssertionError("XX99 was accepted")
