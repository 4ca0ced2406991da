"""PNG and WAV bytes of one clip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from whaledr_core import render
from whaledr_core.render import RenderSettings, spectrogram_png, wav_bytes, wav_size

RATE = 64_000
CLIP = (np.random.default_rng(3).normal(5000, 30_000, 5 * RATE)).astype(np.int32)


def test_wav_int16_round_trip_matches_the_documented_scaling():
    data, rate = sf.read(io.BytesIO(wav_bytes(CLIP, RenderSettings(), RATE)), dtype="int16")
    info = sf.info(io.BytesIO(wav_bytes(CLIP, RenderSettings(), RATE)))
    assert (rate, info.channels, info.subtype, len(data)) == (RATE, 1, "PCM_16", 5 * RATE)
    x = CLIP.astype(np.float64) - CLIP.mean()
    expected = np.round(x * 32767 / np.abs(x).max())
    np.testing.assert_array_equal(data, expected.astype(np.int16))
    assert np.abs(data).max() == 32767


def test_wav_int32_raw_keeps_the_counts():
    rs = RenderSettings(wav="int32-raw")
    data, rate = sf.read(io.BytesIO(wav_bytes(CLIP, rs, RATE)), dtype="int32")
    assert rate == RATE and sf.info(io.BytesIO(wav_bytes(CLIP, rs, RATE))).subtype == "PCM_32"
    np.testing.assert_array_equal(data, CLIP)


def test_silent_clip_gives_a_silent_wav_not_a_division_by_zero():
    data, _ = sf.read(io.BytesIO(wav_bytes(np.full(RATE, 7, np.int32), RenderSettings(), RATE)), dtype="int16")
    assert not data.any()


def test_png_is_a_palette_image_of_the_configured_size_with_axes_around_it():
    bare = Image.open(io.BytesIO(spectrogram_png(CLIP, RenderSettings(axes=False), RATE, 5)))
    assert bare.mode == "P" and bare.size == (512, 384)
    framed = Image.open(io.BytesIO(spectrogram_png(CLIP, RenderSettings(), RATE, 5)))
    assert framed.mode == "P" and framed.width > 512 and framed.height > 384
    f = render.frame(RenderSettings(), 5, RATE)
    inner = np.asarray(framed)[f.top : f.top + 384, f.left : f.left + 512]
    np.testing.assert_array_equal(inner, np.asarray(bare))  # the clip's pixels, pasted unchanged


def test_fixed_db_range_policy_is_the_same_for_quiet_and_loud_clips():
    rs = RenderSettings(axes=False, db_policy="fixed", db_low=60, db_high=160)
    quiet = np.asarray(Image.open(io.BytesIO(spectrogram_png(CLIP // 100, rs, RATE, 5))))
    loud = np.asarray(Image.open(io.BytesIO(spectrogram_png(CLIP, rs, RATE, 5))))
    assert loud.mean() > quiet.mean() + 20
    per_clip = RenderSettings(axes=False)
    a = np.asarray(Image.open(io.BytesIO(spectrogram_png(CLIP // 100, per_clip, RATE, 5)))).astype(float)
    b = np.asarray(Image.open(io.BytesIO(spectrogram_png(CLIP, per_clip, RATE, 5)))).astype(float)
    assert abs(a.mean() - b.mean()) < 3  # percentiles follow the clip's own level


def test_spectrogram_shape_follows_nfft_overlap_and_band():
    db = render.spectrogram_db(CLIP, RenderSettings(nfft=1024, overlap=0.5, fmin=0, fmax=8000), RATE)
    assert db.shape == (8000 // 62.5 + 1, (5 * RATE - 1024) // 512 + 1)


@pytest.mark.parametrize("kwargs", [dict(nfft=1000), dict(overlap=1.0), dict(fmin=5000, fmax=4000),
                                    dict(db_policy="auto"), dict(wav="mp3"), dict(db_low=5, db_high=5)])
def test_bad_settings_say_what_is_wrong(kwargs):
    with pytest.raises(ValueError):
        RenderSettings(**kwargs)


def test_unknown_colour_map_is_refused():
    with pytest.raises(ValueError, match="colour map"):
        render.palette("no-such-map")


@pytest.mark.parametrize("fmt", ["int16", "int32-raw"])
def test_wav_size_is_known_before_rendering(fmt):
    rs = RenderSettings(wav=fmt)
    assert len(wav_bytes(CLIP, rs, RATE)) == wav_size(rs, len(CLIP))
