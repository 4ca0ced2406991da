"""A day at a glance: one image of the whole 24 hours, the score above it and marks at what was published.

An operator choosing a budget (or a scientist choosing a day) wants to see where the calls are, where
the gaps are and what reached volunteers, without opening 17,280 clips. So each window contributes
one column: its mean power per frequency row (a long-term spectrogram, as ocean acousticians draw
them), gaps stay blank, a strip of the call score runs above, a tick marks every published clip and
the hours are labelled. Pure: arrays in, PNG bytes out; drawn with Pillow in a few milliseconds
rather than a matplotlib figure.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Set
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

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


LEFT, RIGHT, TOP, SCORE_H, GAP, BOTTOM = 60, 12, 24, 40, 6, 26
"""The picture's layout in pixels: the title above, the score strip, a gap that holds the published
ticks, the body (one pixel column per `width`-th of the day), the hour labels below."""

STAMP = "whaledr-overview"
"""The PNG text chunk that says what the picture's body was drawn from (`body_digest`): a later run
that reads no file may redraw the strip, the ticks and the title over that body (`redraw`)."""
LAYOUT = 1


def body_digest(windows: Iterable[int], settings: object = None) -> str:
    """What a body is drawn from, in a few bytes: the windows with data (and the settings that made
    their columns). Two bodies with one digest are the same picture."""
    text = f"{LAYOUT}|{json.dumps(settings, sort_keys=True, default=str)}|" + ",".join(map(str, sorted(windows)))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


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
    digest: str = "",
) -> bytes:
    """The day's overview PNG from per-window columns (see `window_column`), scores and published windows.

    Columns are resampled to `width` pixels (each pixel the mean of its windows with data); a pixel
    with no data stays blank. The colour range comes from the day's own percentiles 5 and 99.5.
    `digest` (`body_digest`) is stamped in the PNG for `redraw`.
    """
    if not columns:
        raise ValueError("no window has data: nothing to draw")
    rows = len(next(iter(columns.values())))
    if any(len(c) != rows for c in columns.values()):
        raise ValueError("columns differ in length: made with different settings")
    px = _pixels(windows_per_day, width)
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
    body = np.where(np.isnan(levels), BLANK, levels).astype(np.uint8)
    return _compose(body, scores, published, windows_per_day=windows_per_day, fmin=fmin, fmax=fmax, title=title,
                    log_frequency=log_frequency, cmap=cmap, digest=digest)


def stamped_digest(png: bytes) -> str | None:
    """The body digest a picture made here carries; None for any other picture (or one made before stamps)."""
    try:
        with Image.open(io.BytesIO(png)) as img:
            stamp = json.loads(img.info.get(STAMP, "null")) if img.format == "PNG" else None
    except (OSError, ValueError):
        return None
    return stamp.get("digest") if isinstance(stamp, dict) and stamp.get("layout") == LAYOUT else None


def redraw(
    png: bytes,
    scores: Mapping[int, float],
    published: Set[int],
    *,
    windows_per_day: int,
    fmin: float = 0.0,
    fmax: float = 4000.0,
    title: str = "",
    log_frequency: bool = False,
    cmap: str = "bone",
) -> bytes:
    """The picture `png` (made by `overview_png`) with its score strip, published ticks and title drawn
    again from `scores` and `published`, its body kept: what a run that reads no file can redraw
    (a larger budget over a finished day). Drawn whole from the same body, it is the same picture."""
    digest = stamped_digest(png)
    if digest is None:
        raise ValueError("not a stamped whaledr overview: its body cannot be reused")
    with Image.open(io.BytesIO(png)) as img:
        pixels = np.asarray(img)
    rows = pixels.shape[0] - TOP - SCORE_H - GAP - BOTTOM
    y0 = TOP + SCORE_H + GAP
    body = pixels[y0 : y0 + rows, LEFT : pixels.shape[1] - RIGHT]
    return _compose(body, scores, published, windows_per_day=windows_per_day, fmin=fmin, fmax=fmax, title=title,
                    log_frequency=log_frequency, cmap=cmap, digest=digest)


def _pixels(windows_per_day: int, width: int) -> np.ndarray:
    """Each window's pixel column."""
    return np.minimum(np.arange(windows_per_day) * width // windows_per_day, width - 1)


def _compose(
    body: np.ndarray,
    scores: Mapping[int, float],
    published: Set[int],
    *,
    windows_per_day: int,
    fmin: float,
    fmax: float,
    title: str,
    log_frequency: bool,
    cmap: str,
    digest: str,
) -> bytes:
    """The whole picture around a body of palette indices (rows x width): everything but the body is
    drawn from the scores and published windows, so that `redraw` can draw it again over a kept body."""
    rows, width = body.shape
    H = TOP + SCORE_H + GAP + rows + BOTTOM
    W = LEFT + width + RIGHT
    px = _pixels(windows_per_day, width)
    img = np.full((H, W), BLANK, dtype=np.uint8)
    y0 = TOP + SCORE_H + GAP
    img[y0 : y0 + rows, LEFT : LEFT + width] = body

    # score strip: each pixel's best score as a bar from the strip's floor
    best = np.full(width, -np.inf)
    for k, s in scores.items():
        best[px[k]] = max(best[px[k]], s)
    has = np.isfinite(best)
    if has.any():
        s_lo, s_hi = float(np.min(best[has])), float(np.max(best[has]))
        h = np.zeros(width, dtype=int)
        h[has] = 1 + np.round((best[has] - s_lo) / max(s_hi - s_lo, 1e-9) * (SCORE_H - 1)).astype(int)
        for i in np.flatnonzero(has):
            img[TOP + SCORE_H - h[i] : TOP + SCORE_H, LEFT + i] = CMAP_LEVELS // 2
    # published: a tick in the gap between the strip and the body (never over the body, which `redraw` keeps)
    for k in published:
        img[TOP + SCORE_H : y0, LEFT + px[k]] = MARK

    out = Image.fromarray(img, mode="P")
    colours = bytearray(palette(cmap))
    colours[3 * MARK : 3 * MARK + 3] = bytes((220, 30, 30))
    out.putpalette(bytes(colours))
    draw = ImageDraw.Draw(out)
    font = _font()
    for hour in range(0, 25, 3):
        x = LEFT + min(hour * width // 24, width - 1)
        draw.line([(x, y0 + rows), (x, y0 + rows + 4)], fill=INK)
        draw.text((x - 8, y0 + rows + 7), f"{hour:02d}h", fill=INK, font=font)
    for f in ([fmin, fmax / 4, fmax / 2, 3 * fmax / 4, fmax] if not log_frequency else
              [f for f in (10, 30, 100, 300, 1000, 3000) if max(fmin, 10) <= f <= fmax]):
        if log_frequency:
            frac = np.log(f / max(fmin, 10.0)) / np.log(fmax / max(fmin, 10.0))
        else:
            frac = (f - fmin) / (fmax - fmin)
        y = y0 + rows - 1 - int(round(frac * (rows - 1)))
        draw.line([(LEFT - 4, y), (LEFT - 1, y)], fill=INK)
        draw.text((4, y - 5), f"{f / 1000:g}k" if f >= 1000 else f"{f:g}", fill=INK, font=font)
    draw.text((4, TOP + SCORE_H // 2 - 5), "score", fill=INK, font=font)
    draw.text((LEFT, 6), title + f"   ({len(published)} published of {len(scores)} windows with data)",
              fill=INK, font=font)
    info = PngInfo()
    info.add_text(STAMP, json.dumps({"layout": LAYOUT, "digest": digest}))
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=False, compress_level=6, pnginfo=info)
    return buf.getvalue()
