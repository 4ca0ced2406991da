"""Write docs/gallery/*.jpg and docs/gallery.md: real whale calls as volunteers see them, default and `--preset low`.

    .venv/bin/python docs/gallery.py            # needs ../shared/realdata (or $WHALEDR_REALDATA); ~1 minute

Each clip (NOAA SanctSound example clips, ../shared/realdata/sanctsound, MIT-licensed repository
noaa-onms/sanctsound, US government recordings) is read as bench/real.py reads it (high-passed at 5 Hz,
resampled to 64 kHz), set at its recorded level into a minute of the PM05_01 soundscape (the file's floor
needs a minute around a clip) and cut into 5 s windows; the window the score ranks highest is drawn with the
pipeline's own functions twice: with the default settings and with the `low` preset (`render.PRESETS`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import real  # noqa: E402
from whaledr_core import render  # noqa: E402
from whaledr_core.score import clip_responses, file_floor, file_scores, floor_levels  # noqa: E402

RATE, CLIP = 64_000, 5
CONTEXT = 60.0
GALLERY = (
    ("Humpback whale song", "sanctsound/SanctSound_SB03_04_humpbackwhale_20190623T004507Z"),
    ("North Atlantic right whale upcalls", "sanctsound/SanctSound_SB01_01_northatlanticrightwhale_20181120T090303Z"),
    ("Fin whale 20 Hz pulses", "sanctsound/SanctSound_CI05_04_finwhale_20191228T134133Z"),
    ("Blue whale B calls", "sanctsound/SanctSound_CI05_03_bluewhale_20190926T230959Z"),
    ("Sei whale downsweep", "sanctsound/SanctSound_SB02_03_seiwhale_20190402T203828Z"),
    ("Minke whale boing", "sanctsound/SanctSound_HI03_02_minkewhale_20191210T055810Z"),
    ("Minke whale pulse train", "sanctsound/SanctSound_SB03_09_minkewhale_20200502T012119Z"),
    ("Gray whale call", "sanctsound/SanctSound_CI02_02_graywhale_20190425T012924Z_33dBgain"),
)
OUT = Path(__file__).resolve().parent


def stretch(root: Path, name: str) -> np.ndarray:
    """The clip at its recorded level in the middle of CONTEXT s of the soundscape, as counts."""
    bg, bg_rate = real.load(root, real.BACKGROUNDS["soundscape"])
    x, own = real.load(root, name)
    x = x[: int(40 * RATE)] * np.sqrt(real.floor_level(bg, bg_rate) / real.floor_level(x, own))
    y = real.chain(bg, CONTEXT, np.random.default_rng(20))
    a = int(10 * RATE)
    y[a : a + len(x)] += x
    return np.round(y * 1e4 / np.std(y)).astype(np.int32)


def picture(x: np.ndarray, k: int, rs: render.RenderSettings) -> bytes:
    """Window k of `x` as the pipeline draws it with settings `rs` (the floor contrast over `x`'s own floor)."""
    samples = x[k * CLIP * RATE : (k + 1) * CLIP * RATE]
    db = render.spectrogram_db(samples, rs, RATE)
    if rs.db_policy == "floor":
        levels = floor_levels(db, file_floor([(0, x)], rs, RATE).at((k + 0.5) * CLIP))
    else:
        levels = render.to_levels(db, *render.db_limits(db, rs))
    return render.encode_image(levels, rs, RATE, CLIP)


def best_window(x: np.ndarray, first: int, last: int, rs: render.RenderSettings) -> int:
    """The window of the clip's span the score ranks highest (the file's calibration over the whole stretch)."""
    floor = file_floor([(0, x)], rs, RATE)
    responses = {k: clip_responses(render.spectrogram_db(x[k * CLIP * RATE : (k + 1) * CLIP * RATE], rs, RATE),
                                   floor.at((k + 0.5) * CLIP), rs, RATE)
                 for k in range(len(x) // (CLIP * RATE))}
    scores = file_scores(responses)
    return max(range(first, last + 1), key=lambda k: scores[k])


def main() -> None:
    root = real.default_realdata()
    if not root.is_dir():
        raise SystemExit(f"no real recordings at {root}: set WHALEDR_REALDATA")
    import io

    default, low = render.RenderSettings(), render.preset_settings("low")
    (OUT / "gallery").mkdir(exist_ok=True)
    rows = []
    for title, name in GALLERY:
        x = stretch(root, name)
        length = min(40.0, real.load(root, name)[0].size / RATE)
        k = best_window(x, 2, int((10 + length) // CLIP), default)
        left = Image.open(io.BytesIO(picture(x, k, default)))
        right = Image.open(io.BytesIO(picture(x, k, low)))
        both = Image.new("RGB", (left.width + right.width + 8, max(left.height, right.height)), "white")
        both.paste(left, (0, 0))
        both.paste(right, (left.width + 8, 0))
        slug = title.lower().replace(" ", "-")
        both.save(OUT / "gallery" / f"{slug}.jpg", quality=80)
        start = k * CLIP - 10.0
        rows.append(f"### {title}\n\n`{Path(name).name}.wav`, {start:+.0f} to {start + CLIP:+.0f} s of the clip. "
                    f"Left: default (0-4 kHz, nfft 4096, the clip's own contrast). Right: `--preset low`.\n\n"
                    f"![{title}](gallery/{slug}.jpg)\n")
        print(f"{title}: window {k}", file=sys.stderr)
    (OUT / "gallery.md").write_text(
        "# Gallery: real whale calls, default and `--preset low`\n\n"
        "Made by `docs/gallery.py` from NOAA SanctSound example clips (repository noaa-onms/sanctsound, MIT; "
        "US government recordings), each set into a minute of the PM05_01 soundscape at its recorded level, "
        "the 5 s window the call score ranks highest drawn by the pipeline's own renderer. The default image "
        "shows 0-4 kHz in 15.6 Hz rows: fin and blue whale calls are a strip at its foot. The `low` preset "
        "(`whaledr run --preset low`, `rendering.preset: low`) shows 10-500 Hz in 3.9 Hz rows with contrast "
        "over the file's floor ([Low-frequency calls](look.md#low-frequency-calls-preset-low)).\n\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
