"""prefect.yaml and the commands around it: what a deployment, a worker and `whaledr serve` rely on."""

import asyncio
import datetime as dt
import inspect
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from prefect.exceptions import ParameterTypeError
from prefect.flows import load_flow_from_entrypoint
from prefect.server.schemas.schedules import CronSchedule
from pydantic_core import to_jsonable_python

from flows.params import SAFE_BUDGET
from whaledr_core.catalog import HYDROPHONES

from conftest import run_cli

ROOT = Path(__file__).parent.parent
SPEC = yaml.safe_load((ROOT / "prefect.yaml").read_text())
BY_NAME = {d["name"]: d for d in SPEC["deployments"]}
FLOW_NAMES = {"daily": "whaledr-daily", "backfill": "whaledr-backfill", "day": "whaledr-day"}
REQUIRED_SAMPLES = {"day": dt.date(2019, 1, 12), "start": dt.date(2019, 1, 12), "end": dt.date(2019, 1, 14)}


def test_the_daily_backfill_and_day_deployments_are_on_one_process_pool():
    assert set(BY_NAME) == {"daily", "backfill", "day"}
    assert {d["work_pool"]["name"] for d in SPEC["deployments"]} == {"whaledr"}


@pytest.mark.parametrize("name", ["daily", "backfill", "day"])
def test_entrypoints_resolve_and_parameters_validate_against_the_flow(name):
    d = BY_NAME[name]
    flow = load_flow_from_entrypoint(d["entrypoint"])
    params = d.get("parameters", {})
    signature = inspect.signature(flow.fn).parameters
    assert set(params) <= set(signature), set(params) - set(signature)
    required = {k: REQUIRED_SAMPLES[k] for k, p in signature.items() if p.default is inspect.Parameter.empty}
    validated = flow.validate_parameters({**params, **required})
    for key, value in params.items():
        assert subset(value, to_jsonable_python(validated[key])), (key, value, validated[key])
    with pytest.raises(ParameterTypeError):  # a wrongly typed value is refused, so the check above means something
        flow.validate_parameters({**params, **required, next(iter(signature)): {"not": "valid"}})


def subset(part, whole) -> bool:
    """`part` says nothing that `whole` contradicts: prefect.yaml may spell out only some fields of a group."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and subset(v, whole[k]) for k, v in part.items())
    return part == whole


def test_yaml_defaults_are_the_flows_own_defaults():
    """prefect.yaml spells out the defaults for the UI; they must not drift from the code."""
    for d in SPEC["deployments"]:
        signature = inspect.signature(load_flow_from_entrypoint(d["entrypoint"]).fn).parameters
        for key, value in d.get("parameters", {}).items():
            assert subset(value, to_jsonable_python(signature[key].default)), (d["name"], key)


def test_every_form_field_has_a_description_and_choices_where_the_catalog_has_them():
    """The UI's run form shows each field's description (from the flow's Args: docstring, or the
    group's own Field descriptions) and offers the known hydrophones as choices, not free text."""
    for d in SPEC["deployments"]:
        schema = load_flow_from_entrypoint(d["entrypoint"]).parameters.model_dump()
        for name, field in schema["properties"].items():
            assert field.get("description"), (d["name"], name)
        for group in schema.get("definitions", {}).values():
            for name, field in group["properties"].items():
                assert field.get("description"), (group["title"], name)
        nodes = schema["properties"].get("hydrophone") or schema["properties"]["hydrophones"]["items"]
        assert nodes["enum"] == [h.node for h in HYDROPHONES]


@pytest.mark.parametrize("name", ["daily", "backfill", "day"])
def test_each_form_is_one_a_person_can_fill_in(name):
    """What the UI's Custom run form is built from: no field is "X or None" (the UI's type switch and
    "Property is type None"); the budget comes right after the day and hydrophone; every label is words;
    the contrast, image format, WAV and store are choices; a date's help does not ask for a format the
    date picker does not show; and the budget's field refuses what `parse_budget` refuses."""
    from prefect.utilities.schema_tools.validation import validate

    schema = load_flow_from_entrypoint(BY_NAME[name]["entrypoint"]).parameters.model_dump()
    text = json.dumps(schema)
    assert "anyOf" not in text and "null" not in text
    order = sorted(schema["properties"], key=lambda p: schema["properties"][p]["position"])
    assert order[order.index("hydrophone" if name == "day" else "hydrophones") + 1] == "selection"
    fields = [*schema["properties"].values(), *(f for g in schema["definitions"].values()
                                                 for f in g["properties"].values())]
    assert all(re.fullmatch(r"[A-Z][\w ()'.,-]*", f["title"]) and "_" not in f["title"] for f in fields), \
        [f["title"] for f in fields]
    rendering, selection = schema["definitions"]["Rendering"]["properties"], schema["definitions"]["Selection"]
    assert [rendering[k]["title"] for k in ("nfft", "cmap", "db_low")] == ["FFT length", "Colour map", "Low dB"]
    assert {k: rendering[k]["enum"] for k in ("db_policy", "image_format", "wav")} == {
        "db_policy": ["percentile", "fixed", "floor"], "image_format": ["jpeg", "png"], "wav": ["int16", "int32-raw"]}
    assert selection["properties"]["store"]["enum"] == ["published", "all"]
    assert all("YYYY" not in f.get("description", "") for f in fields if f.get("format") == "date")
    required = {k: REQUIRED_SAMPLES[k].isoformat() for k in schema.get("required", [])}
    for publish, valid in (("top:40+random:10", True), ("top:5", True), ("all", True), ("top:many", False),
                           ("top:3+rand:1", False)):
        errors = validate({**required, "selection": {"publish": publish}}, schema)  # as the server checks a run
        assert (not errors) == valid, (publish, errors)


def test_the_daily_cron_parses_and_fires_once_a_day_in_utc():
    (schedule,) = BY_NAME["daily"]["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # the server's own class
    assert cron.timezone == "UTC"
    start = dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC)  # a DST weekend in Europe
    fires = [f.astimezone(dt.UTC) for f in asyncio.run(cron.get_dates(n=3, start=start))]
    assert fires[0] == dt.datetime(2026, 3, 29, 6, tzinfo=dt.UTC)
    assert [f.hour for f in fires] == [6, 6, 6]
    assert [(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)] == [86400, 86400]
    assert BY_NAME["daily"]["parameters"]["lag_days"] == 1
    assert "schedules" not in BY_NAME["backfill"] and "schedules" not in BY_NAME["day"]


def test_the_pull_step_enters_the_git_checkout_whaledr_runs_from(tmp_path, monkeypatch):
    from prefect.utilities.importtools import import_object

    (step,) = SPEC["pull"]
    ((name, kwargs),) = step.items()
    monkeypatch.chdir(tmp_path)
    assert import_object(name)(**kwargs) == {"directory": str(ROOT)}  # as a worker's run_step resolves it
    assert Path(os.getcwd()) == ROOT and (ROOT / ".git").exists()


def test_serve_builds_the_same_deployments_with_overrides_only_where_a_flow_takes_them():
    from flows.project import served

    deployments = {d.name: d for d in served({"hydrophones": ["LJ01C"], "output": {"folder": "/data/clips"}})}
    assert set(deployments) == set(BY_NAME)
    daily = deployments["daily"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in daily.schedules] == [("0 6 * * *", "UTC")]
    assert daily.parameters["hydrophones"] == ["LJ01C"] and daily.parameters["lag_days"] == 1
    assert daily.parameters["output"] == {"folder": "/data/clips", "s3_block": ""}  # the other field stays
    assert deployments["day"].parameters == {"hydrophone": "LJ01D", "output": {"folder": "/data/clips"},
                                             "selection": {"publish": SAFE_BUDGET}}
    assert not deployments["backfill"].schedules


@pytest.mark.parametrize("args, message", [
    (["backfill", "2019-01-14", "2019-01-12"], "end 2019-01-12 is before start 2019-01-14"),
    (["backfill", "2019-01-12", "2019-01-40"], "invalid date"),
    (["backfill", "2019-01-12", "2019-01-14", "--hydrophone", "LJ01D", "--hydrophone", "XX99"],
     "unknown hydrophone 'XX99'"),
    (["backfill", "2019-01-01", "2019-03-01"], "is 60 days, more than 31 without confirmation"),
    (["backfill", "2019-01-01", "2019-01-10", "--max-days", "5"], "is 10 days, more than 5"),
    (["backfill", "2019-01-01", "2019-01-02", "--concurrency", "0"], "--concurrency must be at least 1"),
    (["serve", "--hydrophone", "XX99"], "unknown hydrophone"),
])
def test_backfill_and_serve_mistakes_give_one_line_and_exit_2_before_any_run(args, message, tmp_path):
    home = tmp_path / "prefect-home"
    r = run_cli(*args, env={"PREFECT_HOME": str(home)}, timeout=120)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not home.exists()  # no Prefect server was started, so no run either


@pytest.mark.parametrize("rendering, message", [
    ({"nfft": 1000}, "power of two"),
    ({"clip_seconds": 7}, "must divide a day"),
    ({"fmax": 40_000}, "Nyquist"),
    ({"cmap": "nope"}, "unknown colour map"),
])
def test_the_form_refuses_what_the_core_would_refuse_before_any_day_runs(rendering, message):
    """A bad value in the run form is a validation error of the run, never a traceback in every day run."""
    day = load_flow_from_entrypoint(BY_NAME["day"]["entrypoint"])
    with pytest.raises(ParameterTypeError, match=message):
        day.validate_parameters({"day": dt.date(2019, 1, 12), "rendering": rendering})


def test_every_day_run_of_a_backfill_or_daily_run_gets_each_day_parameter_with_its_selection():
    """DayParameters is what run_deployment sends to each day run: exactly the day flow's parameters
    besides its day and hydrophone, and valid for it, the publish budget included."""
    from flows.backfill import DayParameters
    from flows.day import day_flow
    from flows.params import App, Downloads, Output, Rendering, Selection

    days = DayParameters("http://x", Output(), App(), Downloads(), Rendering(), Selection(publish="top:3+random:1"),
                         False, "")
    params = days.as_dict()
    assert set(params) == set(inspect.signature(day_flow.fn).parameters) - {"day", "hydrophone"}
    validated = day_flow.validate_parameters({"day": "2019-01-12", "hydrophone": "LJ01D", **params})
    assert validated["selection"] == Selection(publish="top:3+random:1")
    with pytest.raises(ParameterTypeError):
        day_flow.validate_parameters({"day": "2019-01-12", **params, "selection": {"publish": "top:many"}})
