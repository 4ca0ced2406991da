"""A day at a glance: one image of the whole 24 hours, the score above it and marks at what was published.

An operator choosing a budget (or a scientist choosing a day) wants to see where the calls are, where
the gaps are and what reached volunteers, without opening 17,280 clips. So each window contributes
one column: its mean power per frequency row (a long-term spectrogram, as ocean acousticians draw
them), gaps stay blank, a strip of the call score runs above, a tick marks every published clip and
the hours are labelled. Pure: arrays in, PNG bytes out; drawn with Pillow in a few milliseconds
rather than a matplotlib figure.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Set
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .render import CMAP_LEVELS, palette

BLANK = 255
"""Palette index of the blank background (white, the last of the frame's greys)."""
INK = CMAP_LEVELS
"""Palette index of labels and ticks (black, the first of the frame's greys)."""
MARK = CMAP_LEVELS + 1
"""Palette index of the published marks, painted red."""


ROWS = 200
"""Frequency rows of the overview: each window's column is kept at this height while clips are made."""


def window_column(db: np.ndarray, rows: int = ROWS) -> np.ndarray:
    """One window's column: its mean power per frequency (rows high to low, as the clip's spectrogram),
    averaged in power, resampled to `rows` and returned in dB.

    A caller keeps these (a few hundred bytes per window) while clips are made.
    """
    power = np.exp(db * np.float32(np.log(10) / 10)).mean(axis=1, dtype=np.float64)
    col = 10 * np.log10(power + 1e-12)
    x = np.linspace(0, len(col) - 1, rows)
    return np.interp(x, np.arange(len(col)), col).astype(np.float32)


def log_rows(col: np.ndarray, fmin: float, fmax: float, rows: int, lowest: float = 10.0) -> np.ndarray:
    """A linear-frequency column (high to low) on a logarithmic axis from max(fmin, `lowest`) to fmax.

    Fin and blue whale calls live in the lowest 2 % of a 0-4 kHz axis; a log axis gives them room.
    """
    f_lin = np.linspace(fmax, fmin, len(col))[::-1]
    f_log = np.geomspace(max(fmin, lowest), fmax, rows)[::-1]
    return np.interp(f_log, f_lin, col[::-1]).astype(np.float32)


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=11)  # a TrueType face: the bitmap one draws "06h" like "08h"


def overview_png(
    columns: Mapping[int, np.ndarray],
    scores: Mapping[int, float],
    published: Set[int],
    *,
    windows_per_day: int,
    fmin: float = 0.0,
    fmax: float = 4000.0,
    title: str = "",
    log_frequency: bool = False,
    width: int = 1440,
    cmap: str = "bone",
) -> bytes:
    """The day's overview PNG from per-window columns (see `window_column`), scores and published windows.

    Columns are resampled to `width` pixels (each pixel the mean of its windows with data); a pixel
    with no data stays blank. The colour range comes from the day's own percentiles 5 and 99.5.
    """
    if not columns:
        raise ValueError("no window has data: nothing to draw")
    rows = len(next(iter(columns.values())))
    if any(len(c) != rows for c in columns.values()):
        raise ValueError("columns differ in length: made with different settings")
    left, right, top, score_h, gap, bottom = 60, 12, 24, 40, 6, 26
    H = top + score_h + gap + rows + bottom
    W = left + width + right
    px = np.minimum(np.arange(windows_per_day) * width // windows_per_day, width - 1)

    power = np.zeros((rows, width))
    count = np.zeros(width)
    for k, col in columns.items():
        power[:, px[k]] += np.power(10.0, col / 10.0)
        count[px[k]] += 1
    have = count > 0
    db = np.full((rows, width), np.nan)
    db[:, have] = 10 * np.log10(power[:, have] / count[have])
    if log_frequency:
        db[:, have] = np.stack([log_rows(db[:, i], fmin, fmax, rows) for i in np.flatnonzero(have)], axis=1)
    db -= np.nanmedian(db, axis=1, keepdims=True)
    lo, hi = -2.0, 20.0
    levels = np.clip((db - lo) * ((CMAP_LEVELS - 1) / (hi - lo)), 0, CMAP_LEVELS - 1)
    img = np.full((H, W), BLANK, dtype=np.uint8)
    y0 = top + score_h + gap
    body = np.where(np.isnan(levels), BLANK, levels).astype(np.uint8)
    img[y0 : y0 + rows, left : left + width] = body

    # score strip: each pixel's best score as a bar from the strip's floor
    best = np.full(width, -np.inf)
    for k, s in scores.items():
        best[px[k]] = max(best[px[k]], s)
    has = np.isfinite(best)
    if has.any():
        s_lo, s_hi = float(np.min(best[has])), float(np.max(best[has]))
        h = np.zeros(width, dtype=int)
        h[has] = 1 + np.round((best[has] - s_lo) / max(s_hi - s_lo, 1e-9) * (score_h - 1)).astype(int)
        for i in np.flatnonzero(has):
            img[top + score_h - h[i] : top + score_h, left + i] = CMAP_LEVELS // 2
    # published: a tick in the gap between the strip and the spectrogram, and a dot on the strip's top
    for k in published:
        img[top + score_h : y0 + 3, left + px[k]] = MARK

    out = Image.fromarray(img, mode="P")
    colours = bytearray(palette(cmap))
    colours[3 * MARK : 3 * MARK + 3] = bytes((220, 30, 30))
    out.putpalette(bytes(colours))
    draw = ImageDraw.Draw(out)
    font = _font()
    for hour in range(0, 25, 3):
        x = left + min(hour * width // 24, width - 1)
        draw.line([(x, y0 + rows), (x, y0 + rows + 4)], fill=INK)
        draw.text((x - 8, y0 + rows + 7), f"{hour:02d}h", fill=INK, font=font)
    for f in ([fmin, fmax / 4, fmax / 2, 3 * fmax / 4, fmax] if not log_frequency else
              [f for f in (10, 30, 100, 300, 1000, 3000) if max(fmin, 10) <= f <= fmax]):
        if log_frequency:
            frac = np.log(f / max(fmin, 10.0)) / np.log(fmax / max(fmin, 10.0))
        else:
            frac = (f - fmin) / (fmax - fmin)
        y = y0 + rows - 1 - int(round(frac * (rows - 1)))
        draw.line([(left - 4, y), (left - 1, y)], fill=INK)
        draw.text((4, y - 5), f"{f / 1000:g}k" if f >= 1000 else f"{f:g}", fill=INK, font=font)
    draw.text((4, top + score_h // 2 - 5), "score", fill=INK, font=font)
    draw.text((left, 6), title + f"   ({len(published)} published of {len(scores)} windows with data)",
              fill=INK, font=font)
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
