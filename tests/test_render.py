"""Image (JPEG or PNG) and WAV bytes of one clip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from whaledr_core import render
from whaledr_core.render import (
    IMAGE_FORMATS,
    WAV_INFO_BYTES,
    RenderSettings,
    spectrogram_image,
    wav_bytes,
    wav_size,
)

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
    render_settings = RenderSettings(wav="int32-raw")
    data, rate = sf.read(io.BytesIO(wav_bytes(CLIP, render_settings, RATE)), dtype="int32")
    assert rate == RATE and sf.info(io.BytesIO(wav_bytes(CLIP, render_settings, RATE))).subtype == "PCM_32"
    np.testing.assert_array_equal(data, CLIP)


def test_silent_clip_gives_a_silent_wav_not_a_division_by_zero():
    data, _ = sf.read(io.BytesIO(wav_bytes(np.full(RATE, 7, np.int32), RenderSettings(), RATE)), dtype="int16")
    assert not data.any()


PNG = RenderSettings(image_format="png")


def image(samples: np.ndarray, render_settings: RenderSettings) -> Image.Image:
    return Image.open(io.BytesIO(spectrogram_image(samples, render_settings, RATE, 5)))


def test_the_default_image_is_a_square_jpeg_of_the_size_the_app_shows():
    """The app's widget shows the image with `aspect-ratio=1` (SwipesForScience, commit 2cd319e,
    src/components/Widgets/ImageSoundSwipe.vue) and its live templates end in `.jpg`."""
    render_settings = RenderSettings()
    data = spectrogram_image(CLIP, render_settings, RATE, 5)
    img = Image.open(io.BytesIO(data))
    assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (512, 512))
    assert (render_settings.image.extension, render_settings.image.content_type) == ("jpg", "image/jpeg")
    assert 20_000 < len(data) < 120_000  # white noise is JPEG's worst case; a real clip is ~40-80 KB


def test_png_is_a_palette_image_of_the_whole_size_with_axes_inside_it():
    bare = image(CLIP, RenderSettings(axes=False, image_format="png"))
    assert bare.format == "PNG" and bare.mode == "P" and bare.size == (512, 512)
    framed = image(CLIP, PNG)
    assert framed.mode == "P" and framed.size == (512, 512)
    assert (PNG.image.extension, PNG.image.content_type) == ("png", "image/png")
    f = render.frame(PNG, 5, RATE)
    pw, ph = PNG.plot_size
    assert pw < 512 and ph < 512 and f.left > 0 and f.top > 0
    inner = np.asarray(framed)[f.top : f.top + ph, f.left : f.left + pw]
    alone = RenderSettings(axes=False, image_format="png", width=pw, height=ph)
    np.testing.assert_array_equal(inner, np.asarray(image(CLIP, alone)))  # the clip's pixels, pasted unchanged
    assert (np.asarray(framed)[: f.top] >= render.CMAP_LEVELS).all()  # above the plot: only the frame's greys


def test_jpeg_shows_the_same_picture_as_png():
    """Quality 75 keeps the picture: the JPEG's grey levels follow the PNG's closely, pixel by pixel."""
    jpeg = np.asarray(image(CLIP, RenderSettings()).convert("L"), dtype=float)
    png = np.asarray(image(CLIP, PNG).convert("L"), dtype=float)
    assert np.abs(jpeg - png).mean() < 6
    assert len(spectrogram_image(CLIP, RenderSettings(), RATE, 5)) < len(spectrogram_image(CLIP, PNG, RATE, 5)) / 2


def test_the_axes_labels_are_big_enough_for_a_phone():
    """12 pt at 100 dpi: the frame's digits are ~12 image pixels tall, ~8 CSS pixels in a 350-pixel box."""
    f = render.frame(RenderSettings(), 5, RATE)
    below = f.pixels[f.top + RenderSettings().plot_size[1] + 6 :]  # the tick labels and the axis title
    dark_rows = np.flatnonzero((below < render.CMAP_LEVELS + 8).any(axis=1))
    first_line = dark_rows[: np.argmax(np.diff(dark_rows) > 1) + 1] if len(dark_rows) > 1 else dark_rows
    assert len(first_line) >= 11


def test_fixed_db_range_policy_is_the_same_for_quiet_and_loud_clips():
    render_settings = RenderSettings(axes=False, db_policy="fixed", db_low=60, db_high=160, image_format="png")
    quiet = np.asarray(image(CLIP // 100, render_settings))
    loud = np.asarray(image(CLIP, render_settings))
    assert loud.mean() > quiet.mean() + 20
    per_clip = RenderSettings(axes=False, image_format="png")
    a = np.asarray(image(CLIP // 100, per_clip)).astype(float)
    b = np.asarray(image(CLIP, per_clip)).astype(float)
    assert abs(a.mean() - b.mean()) < 3  # percentiles follow the clip's own level


def test_spectrogram_shape_follows_nfft_overlap_and_band():
    db = render.spectrogram_db(CLIP, RenderSettings(nfft=1024, overlap=0.5, fmin=0, fmax=8000), RATE)
    assert db.shape == (8000 // 62.5 + 1, (5 * RATE - 1024) // 512 + 1)


@pytest.mark.parametrize("kwargs", [dict(nfft=1000), dict(overlap=1.0), dict(fmin=5000, fmax=4000),
                                    dict(db_policy="auto"), dict(wav="mp3"), dict(db_low=5, db_high=5),
                                    dict(image_format="gif"), dict(jpeg_quality=0), dict(width=60)])
def test_bad_settings_say_what_is_wrong(kwargs):
    with pytest.raises(ValueError):
        RenderSettings(**kwargs)


def test_unknown_colour_map_is_refused():
    with pytest.raises(ValueError, match="colour map"):
        render.palette("no-such-map")


@pytest.mark.parametrize("fmt", ["int16", "int32-raw"])
def test_wav_size_is_known_before_rendering(fmt):
    render_settings = RenderSettings(wav=fmt)
    assert len(wav_bytes(CLIP, render_settings, RATE)) == wav_size(render_settings, len(CLIP))


def test_every_image_format_names_its_extension_and_type_once():
    assert {f: (i.extension, i.content_type) for f, i in IMAGE_FORMATS.items()} == {
        "jpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png")}


def test_audio_rate_resamples_the_wav_and_its_size_is_known_before():
    render_settings = RenderSettings(audio_rate=16_000)
    data = wav_bytes(CLIP, render_settings, RATE)
    assert len(data) == wav_size(render_settings, len(CLIP), RATE) == 44 + WAV_INFO_BYTES + 2 * 5 * 16_000
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 16_000 and len(samples) == 5 * 16_000 and np.abs(samples).max() == 32767
    t = np.arange(5 * RATE) / RATE
    tone = (20_000 * np.sin(2 * np.pi * 1000 * t) + 10_000 * np.sin(2 * np.pi * 12_000 * t)).astype(np.int32)
    low, _ = sf.read(io.BytesIO(wav_bytes(tone, render_settings, RATE)), dtype="float64")
    spectrum = np.abs(np.fft.rfft(low))
    freqs = np.fft.rfftfreq(len(low), 1 / 16_000)
    assert abs(freqs[np.argmax(spectrum)] - 1000) < 1  # the call is kept; 12 kHz is filtered, not folded to 4 kHz
    assert spectrum[np.abs(freqs - 4000) < 5].max() < spectrum.max() / 100
    assert wav_size(RenderSettings(), len(CLIP), RATE) == wav_size(RenderSettings(), len(CLIP))  # default: source rate


@pytest.mark.parametrize("kwargs", [dict(audio_rate=16_000, wav="int32-raw"), dict(audio_rate=100)])
def test_audio_rates_that_make_no_sense_are_refused(kwargs):
    with pytest.raises(ValueError):
        RenderSettings(**kwargs)
