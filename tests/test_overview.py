"""The day overview: one column per window, gaps blank, the score above, marks at published clips."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from whaledr_core.overview import BLANK, MARK, log_rows, overview_png, window_column

ROWS = 64
DAY = 17_280


def columns(windows, loud=()):
    rng = np.random.default_rng(0)
    out = {}
    for k in windows:
        col = np.linspace(60, 90, ROWS).astype(np.float32) + rng.normal(0, 0.5, ROWS).astype(np.float32)
        if k in loud:
            col[20:24] += 30  # a call near the top third
        out[k] = col
    return out


def pixels(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == "P"
    return np.asarray(img)


def test_gaps_are_blank_data_is_drawn_and_published_clips_are_marked():
    have = list(range(0, DAY // 2))  # the morning only
    cols = columns(have, loud={3000})
    png = overview_png(cols, {k: 0.0 for k in have} | {3000: 9.0}, {3000}, windows_per_day=DAY, width=720)
    img = pixels(png)
    left, y0 = 60, 24 + 40 + 6
    body = img[y0 : y0 + ROWS, left : left + 720]
    assert (body[:, 400:] == BLANK).all()  # the afternoon has no data
    assert (body[:, :355] != BLANK).mean() > 0.99
    x = 3000 * 720 // DAY
    assert (img[24 + 40 : y0, left + x] == MARK).all()
    assert (img[24 + 40 : y0, left : left + 720] == MARK).sum() == y0 - 24 - 40
    # the loud window's rows stand out in its column
    assert body[20:24, x].mean() > body[40:, x].mean() + 100


def test_the_score_strip_is_tallest_where_the_score_is_highest():
    have = range(0, DAY, 12)
    scores = {k: (10.0 if k == 6000 else 0.0) for k in have}
    img = pixels(overview_png(columns(have), scores, set(), windows_per_day=DAY, width=1440))
    strip = img[24 : 24 + 40, 60 : 60 + 1440]
    heights = (strip != BLANK).sum(axis=0)
    assert int(np.argmax(heights)) == 6000 * 1440 // DAY


def test_a_log_frequency_axis_and_its_column_mapping():
    col = np.linspace(4000, 0, 401)  # each row holds its own frequency, high rows first
    out = log_rows(col, 0.0, 4000.0, 50)
    np.testing.assert_allclose(out, np.geomspace(10, 4000, 50)[::-1], rtol=1e-4)
    png = overview_png(columns(range(100)), dict.fromkeys(range(100), 1.0), set(), windows_per_day=DAY,
                       log_frequency=True)
    assert pixels(png).shape[0] > ROWS


def test_a_window_column_is_the_mean_power_per_row():
    db = np.full((8, 100), 10.0, dtype=np.float32)
    db[2, :10] = 30.0  # a tenth of the time at +20 dB: the mean power is ~10x higher
    col = window_column(db, 8)
    assert col[0] == pytest.approx(10.0, abs=1e-4)
    assert col[2] == pytest.approx(10 * np.log10(0.1 * 1000 + 0.9 * 10), abs=1e-3)


def test_nothing_to_draw_and_mixed_settings_are_errors():
    with pytest.raises(ValueError, match="no window"):
        overview_png({}, {}, set(), windows_per_day=DAY)
    with pytest.raises(ValueError, match="differ"):
        overview_png({0: np.zeros(4), 1: np.zeros(5)}, {}, set(), windows_per_day=DAY)
