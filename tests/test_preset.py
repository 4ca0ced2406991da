"""Rendering presets: `low` shows fin and blue whale calls; one source of its settings for the CLI, the
deployments' form and the core; settings given besides a preset win."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from whaledr_core import events as ev
from whaledr_core.catalog import get_hydrophone
from whaledr_core.render import PRESET_FIELDS, PRESETS, RenderSettings, preset_settings
from whaledr_core.synth import SynthOptions, write_day

from conftest import DAY, run_cli


def test_a_preset_sets_only_its_fields_and_settings_given_besides_it_win():
    """`low` is 10-500 Hz at nfft 16384 with the floor contrast; any other setting keeps its default, and one
    given with the preset wins over the preset's."""
    from flows.params import Rendering

    low = preset_settings("low")
    assert (low.nfft, low.fmin, low.fmax, low.db_policy) == (16384, 10.0, 500.0, "floor")
    assert rate_of_rows(low) < 4.0 < rate_of_rows(RenderSettings())  # fin whale pulses get rows of their own
    assert set(PRESETS["low"]) <= set(PRESET_FIELDS)
    assert Rendering().render_settings() == RenderSettings() == preset_settings("default")
    assert Rendering(preset="low").render_settings() == low
    assert Rendering(preset="low", fmax=300.0, cmap="viridis").render_settings() == preset_settings(
        "low", fmax=300.0, cmap="viridis")
    with pytest.raises(ValueError, match="unknown preset 'lo'; known: default, low"):
        preset_settings("lo")
    with pytest.raises(ValidationError):
        Rendering(preset="lo")


def rate_of_rows(rs: RenderSettings) -> float:
    """Hz per spectrogram row at 64 kHz."""
    return 64_000 / rs.nfft


def test_the_day_flows_form_takes_a_preset_and_checks_what_it_gives():
    """A deployment's `rendering: {preset: low}` reaches the day flow as the preset's settings; a band above
    Nyquist given besides it is refused before any day runs."""
    from prefect.exceptions import ParameterTypeError

    from flows.day import day_flow

    ok = day_flow.validate_parameters({"day": "2019-01-12", "hydrophone": "LJ01D", "rendering": {"preset": "low"}})
    assert ok["rendering"].render_settings() == preset_settings("low")
    with pytest.raises(ParameterTypeError, match="Nyquist"):
        day_flow.validate_parameters({"day": "2019-01-12", "hydrophone": "LJ01D",
                                      "rendering": {"preset": "low", "fmax": 40_000}})


@pytest.mark.slow
def test_whaledr_run_with_the_low_preset_draws_low_and_publishes_the_fin_whale(tmp_path, prefect_api):
    """`whaledr run --preset low --publish top:1` on a synthetic file with one fin whale pulse: the day manifest
    records the preset's settings, the image is drawn with them, and the clip published is the fin pulse's
    (the preset gives it rows of its own)."""
    mirror = tmp_path / "mirror"
    write_day(mirror, get_hydrophone("LJ01D"), DAY, SynthOptions(files=1, events_snr=12.0, seed=3))
    fin = ev.Event("fin", 121.0, 1.0, 12.0, seed=1)
    _rewrite_with(mirror, [fin])
    out = tmp_path / "out"
    r = run_cli("run", DAY.isoformat(), "--source", str(mirror), "--out", str(out), "--workers", "1",
                "--cache", str(tmp_path / "cache"), "--preset", "low", "--publish", "top:1", env=prefect_api)
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads((out / "LJ01D" / "2019_01_12" / "whaledr-day.json").read_text())
    render = m["settings"]["render"]
    assert {k: render[k] for k in PRESETS["low"]} == PRESETS["low"]
    (published,) = json.loads((out / "whalemanifest.json").read_text())
    start = dt.datetime.strptime(published.rsplit("___", 1)[1][-19:], "%Y_%m_%dT%H_%M_%S")
    assert start.hour * 3600 + start.minute * 60 + start.second == 120, published


def _rewrite_with(mirror, events: list[ev.Event]) -> None:
    """The mirror's one file again, as sea noise with just `events` (synth's own mix has other calls)."""
    import numpy as np
    from obspy import read

    from whaledr_core.render import RenderSettings as RS

    (path,) = mirror.rglob("*.mseed")
    st = read(str(path))
    rate = int(st[0].stats.sampling_rate)
    n = sum(len(tr.data) for tr in st)
    x = ev.sea_noise(n, np.random.default_rng(5))
    t0 = (st[0].stats.starttime.datetime.replace(tzinfo=dt.UTC) - dt.datetime(2019, 1, 12, tzinfo=dt.UTC))
    for e in events:
        ev.add(x, t0.total_seconds(), e, RS(), rate)
    data = np.round(x).astype(np.int32)
    offset = 0
    for tr in st:
        tr.data = data[offset : offset + len(tr.data)]
        offset += len(tr.data)
    st.write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
