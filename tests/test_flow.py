"""The day flow under a real (test) Prefect server: tasks, artifacts, and the flow's end state."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.task_runners import ProcessPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

from flows.day import DayIncomplete, day_flow
from conftest import DAY


@pytest.fixture(scope="module")
def prefect_server():
    with prefect_test_harness(server_startup_timeout=180):
        yield


async def _artifacts(flow_run_id):
    async with get_client() as client:
        arts = await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        return arts, runs


def test_day_flow_reports_progress_and_a_table(prefect_server, mirror_copy, tmp_path):
    flow = day_flow.with_options(task_runner=ProcessPoolTaskRunner(max_workers=2))
    state = flow(day=DAY, hydrophone="LJ01D", source=str(mirror_copy), out=str(tmp_path / "out"),
                 cache=str(tmp_path / "cache"), return_state=True)
    assert state.is_completed()
    totals = state.result()
    assert totals["clips"] == 179 and totals["clips_written"] == 179
    arts, runs = asyncio.run(_artifacts(state.state_details.flow_run_id))
    table = [a for a in arts if a.type == "table"]
    assert len(table) == 1 and table[0].key == "whaledr-day-lj01d-2019-01-12"
    assert '"clips": 179' in str(table[0].data).replace("'", '"')
    progress = [a for a in arts if a.type == "progress"]
    assert progress and progress[0].data == 100.0
    names = [r.name.split(" ")[0] for r in runs]
    assert (names.count("process"), names.count("download")) == (3, 3), names
    assert sum(n.startswith("list-day") for n in names) == 1 and sum(n.startswith("write-day-manifest") for n in names) == 1


def test_a_day_with_no_data_fails_with_a_clear_message(prefect_server, mirror_copy, tmp_path):
    state = day_flow(day=DAY.replace(day=20), source=str(mirror_copy), out=str(tmp_path / "out"), return_state=True)
    assert state.is_failed()
    with pytest.raises(DayIncomplete, match="no data files for LJ01D on 2019-01-20"):
        state.result()
