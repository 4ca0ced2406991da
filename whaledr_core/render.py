"""A clip's spectrogram image (JPEG or PNG) and WAV, as bytes, in milliseconds rather than seconds.

The original drew a matplotlib figure per clip (170-300 ms) of an FFT with a 21-sample hop (~8 s).
Here one clip is one batched real FFT, a palette lookup and a fast JPEG (or PNG) encode; labelled axes,
when wanted, are drawn once per settings and each clip's pixels are pasted into that frame.

Defaults, chosen for volunteers looking for humpback and other baleen whale calls:
- nfft 4096 at 64 kHz: 15.6 Hz bins and 64 ms windows, fine enough to separate fin whale 20 Hz
  pulses from the floor and humpback harmonics from each other, short enough for 0.3-4 s song units.
- 75 % overlap (16 ms hop): smooth sweeps, ~310 columns for 5 s.
- 0-4 kHz shown: the fundamentals of humpback song and all fin, blue, minke and sei calls lie below
  4 kHz; halving the original's 0-8 kHz doubles the height each call gets on a phone screen.
- `bone` colour map: what the app's volunteers were trained on with the original images;
  its luminance rises monotonically, so louder is always brighter.
- contrast per clip from percentiles 10 and 99.5 of its dB values: the noise floor goes dark
  whatever the sea state, and the few loudest cells (a call) go bright.
- a 512 x 512 image, axes included: the app shows it in a square box (`aspect-ratio=1` in
  SwipesForScience's ImageSoundSwipe.vue), at most 500 CSS pixels wide and ~350 on a phone; the time (s)
  and frequency (kHz) labels are drawn at 12 pt (~17 image pixels, ~11 CSS pixels on a phone) so that
  volunteers can still say "a call near 1 kHz" there.
- JPEG at quality 75 (~55 KB for a clip with a call, ~85 KB for pure white noise, the worst case):
  what the live app asks for (`.jpg`). Side by side with quality 85 and 90 (73 and 90 KB), a call's
  harmonics and a fin whale's 20 Hz pulses are as sharp and the axes' text as crisp; below ~60 the
  noise floor turns into visible 8x8 blocks. A PNG of the same image is ~190 KB.
"""

from __future__ import annotations

import io
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
from PIL import Image

CMAP_LEVELS = 240
"""Palette entries for the colour map; the other 16 are greys for the axes' frame."""
FRAME_LEVELS = 256 - CMAP_LEVELS

WAV_NORMALISED = "int16"
WAV_RAW = "int32-raw"


@dataclass(frozen=True)
class ImageFormat:
    """How an image is encoded, the extension of its key and its Content-Type: one fact, kept together."""

    name: str
    extension: str
    content_type: str


IMAGE_FORMATS = {
    "jpeg": ImageFormat("jpeg", "jpg", "image/jpeg"),  # the live app's templates end in .jpg
    "png": ImageFormat("png", "png", "image/png"),
}
DEFAULT_JPEG_QUALITY = 75
MARGINS = (62, 14, 12, 50)
"""Left, right, top and bottom margins of the axes' frame in pixels: room for 12 pt labels."""
AXES_FONT_PT = 12


DB_POLICIES = ("percentile", "fixed", "floor")
"""How dB become colours: the clip's own percentiles db_low..db_high (the default, what volunteers
were trained on), fixed dB db_low..db_high, or "floor": dB over the file's per-frequency noise floor
on a fixed range (`score.floor_levels`; the `--contrast floor` of docs "Which clips reach volunteers")."""


@dataclass(frozen=True)
class RenderSettings:
    nfft: int = 4096
    overlap: float = 0.75
    fmin: float = 0.0
    fmax: float = 4000.0
    cmap: str = "bone"
    db_policy: str = "percentile"
    """"percentile": contrast from this clip's own dB values; "fixed": from db_low..db_high."""
    db_low: float = 10.0
    """Percentile (policy "percentile") or dB (policy "fixed") shown darkest."""
    db_high: float = 99.5
    width: int = 512
    height: int = 512
    """The whole image, axes included: square, as the app shows it."""
    axes: bool = True
    image_format: str = "jpeg"
    """"jpeg" (the live app's `.jpg`) or "png"; the key's extension follows it."""
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    wav: str = WAV_NORMALISED
    """"int16": mean removed, peak-normalised to full scale; "int32-raw": the counts as recorded."""
    audio_rate: int | None = None
    """The WAV's sampling rate; None keeps the source's. 16000 makes a clip a quarter of the size for
    phones and still holds everything the 0-4 kHz image shows."""

    def __post_init__(self) -> None:
        if self.nfft < 16 or self.nfft & (self.nfft - 1):
            raise ValueError("nfft must be a power of two >= 16")
        if not 0 <= self.overlap < 1:
            raise ValueError("overlap must be in [0, 1)")
        if not 0 <= self.fmin < self.fmax:
            raise ValueError("need 0 <= fmin < fmax")
        if self.db_policy not in DB_POLICIES:
            raise ValueError(f"db_policy must be one of {', '.join(DB_POLICIES)}")
        if self.db_low >= self.db_high:
            raise ValueError("db_low must be below db_high")
        if self.wav not in (WAV_NORMALISED, WAV_RAW):
            raise ValueError(f"wav must be {WAV_NORMALISED!r} or {WAV_RAW!r}")
        if self.audio_rate is not None:
            if self.audio_rate < 1000:
                raise ValueError(f"audio rate {self.audio_rate} Hz is too low to listen to (at least 1000)")
            if self.wav == WAV_RAW:
                raise ValueError("int32-raw keeps the counts as recorded: it cannot be resampled (drop the audio rate)")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image format must be one of {', '.join(IMAGE_FORMATS)} (got {self.image_format!r})")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("jpeg_quality must be 1 to 95")
        least = (MARGINS[0] + MARGINS[1] + 16, MARGINS[2] + MARGINS[3] + 16) if self.axes else (16, 16)
        if self.width < least[0] or self.height < least[1]:
            raise ValueError(f"image too small: at least {least[0]}x{least[1]} pixels")

    def check_rate(self, rate: int) -> None:
        """Settings that only make sense for some sampling rates: the band must sit below Nyquist."""
        if self.fmax > rate / 2:
            raise ValueError(f"fmax {self.fmax:g} Hz is above the Nyquist frequency of {rate} Hz data")

    @property
    def hop(self) -> int:
        return max(1, int(round(self.nfft * (1 - self.overlap))))

    @property
    def image(self) -> ImageFormat:
        return IMAGE_FORMATS[self.image_format]

    @property
    def plot_size(self) -> tuple[int, int]:
        """Width and height of the spectrogram itself: the image less the axes' margins."""
        if not self.axes:
            return self.width, self.height
        left, right, top, bottom = MARGINS
        return self.width - left - right, self.height - top - bottom


PRESETS: dict[str, dict[str, float | int | str]] = {
    "default": {},
    "low": {"nfft": 16384, "overlap": 0.875, "fmin": 10.0, "fmax": 500.0, "db_policy": "floor"},
}
"""Named starting points for how clips look: what a preset sets, every other setting keeps its default, and any
setting given besides a preset wins over it. The one source of these values (the CLI's `--preset`, the
deployments' `rendering.preset`, bench/real.py's `--preset` and docs/gallery.py read them here).

`low`, for hydrophones where blue and fin whales call (docs, "Low-frequency calls"): 10-500 Hz with nfft 16384 (3.9 Hz
rows of 256 ms, 87.5 % overlap: a 32 ms hop), so that fin whale 20 Hz pulses (15-30 Hz: 4 rows, ~14 pixels of
the 446-pixel plot), blue whale B calls (16-50 Hz with their harmonics, ~9 rows) and A calls (80-90 Hz) get
rows of their own above 0 Hz instead of the 10-pixel strip of the default 0-4 kHz image, and right whale
upcalls (50-250 Hz) and sei downsweeps (80 -> 35 Hz) fill a third of it; contrast over the file's floor,
since a red sea paints the bottom rows of a low band bright with the clip's own percentiles."""
PRESET_FIELDS = ("nfft", "overlap", "fmin", "fmax", "db_policy")
"""The settings a preset may set."""


def preset_settings(name: str, **changes) -> RenderSettings:
    """The render settings of preset `name`, with `changes` on top."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return RenderSettings(**{**PRESETS[name], **changes})


def bins(settings: RenderSettings, rate: int) -> tuple[int, int]:
    """First and last FFT bin shown (inclusive)."""
    df = rate / settings.nfft
    lo = int(np.floor(settings.fmin / df))
    hi = min(int(np.ceil(settings.fmax / df)), settings.nfft // 2)
    return lo, hi


@lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """The spectrogram's window, float32; the file's floor (`score`) uses the same."""
    return np.hanning(n).astype(np.float32)


def band_db(windowed: np.ndarray, settings: RenderSettings, rate: int) -> np.ndarray:
    """dB of the shown bins of windowed frames (one per row), low to high frequency. The clip's
    spectrogram and the file's floor (`score.file_floor`) take their dB here, so the two compare.
    `windowed` is overwritten by the FFT."""
    spec = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
    lo, hi = bins(settings, rate)
    band = spec[:, lo : hi + 1]
    power = band.real**2 + band.imag**2
    return 10.0 * np.log10(power + 1e-12, dtype=np.float32)


_buffers = threading.local()


def _frames_buffer(shape: tuple[int, ...]) -> np.ndarray:
    """The windowed frames' buffer, kept per thread for the next clip of the same size.

    A fresh 5 MB array for every clip was faulted in page by page: the spectrogram took 40 % longer.
    """
    buf = getattr(_buffers, "frames", None)
    if buf is None or buf.shape != shape:
        buf = _buffers.frames = np.empty(shape, np.float32)
    return buf


def spectrogram_db(samples: np.ndarray, settings: RenderSettings, rate: int) -> np.ndarray:
    """Power in dB, rows = shown frequency bins from high to low, columns = time."""
    settings.check_rate(rate)
    x = samples.astype(np.float32)
    x -= x.mean()
    frames = np.lib.stride_tricks.sliding_window_view(x, settings.nfft)[:: settings.hop]
    windowed = np.multiply(frames, hann(settings.nfft), out=_frames_buffer(frames.shape))
    return band_db(windowed, settings, rate).T[::-1]


def db_limits(db: np.ndarray, settings: RenderSettings) -> tuple[float, float]:
    if settings.db_policy == "fixed":
        return settings.db_low, settings.db_high
    sample = db[::2, ::2].ravel()  # a quarter of the cells gives the same percentiles, 4x faster
    lo, hi = np.percentile(sample, [settings.db_low, settings.db_high])
    return float(lo), float(max(hi, lo + 1e-3))


def to_levels(db: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """dB -> palette index 0..CMAP_LEVELS-1."""
    scaled = (db - lo) * ((CMAP_LEVELS - 1) / (hi - lo))
    return np.clip(scaled, 0, CMAP_LEVELS - 1).astype(np.uint8)


@lru_cache(maxsize=8)
def palette(cmap: str) -> bytes:
    from matplotlib import colormaps  # imported once per process, only for the palette

    try:
        cm = colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colour map {cmap!r}") from None
    rgb = (cm(np.linspace(0, 1, CMAP_LEVELS))[:, :3] * 255).round().astype(np.uint8)
    greys = np.linspace(0, 255, FRAME_LEVELS).round().astype(np.uint8)
    frame = np.repeat(greys[:, None], 3, axis=1)
    return np.vstack([rgb, frame]).tobytes()


@dataclass(frozen=True)
class Frame:
    """Axes drawn once: palette indices of the whole image and where the plot area sits in it."""

    pixels: np.ndarray
    left: int
    top: int


@lru_cache(maxsize=4)
def frame(settings: RenderSettings, clip_seconds: float, rate: int) -> Frame:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    left, _right, top, bottom = MARGINS
    W, H = settings.width, settings.height
    pw, ph = settings.plot_size
    dpi = 100
    fig = Figure(figsize=(W / dpi, H / dpi), dpi=dpi, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((left / W, bottom / H, pw / W, ph / H))
    ax.tick_params(labelsize=AXES_FONT_PT)
    lo, hi = bins(settings, rate)
    df = rate / settings.nfft
    ax.set_xlim(0, clip_seconds)
    ax.set_ylim((lo - 0.5) * df / 1000, (hi + 0.5) * df / 1000)
    ax.set_xlabel("Time (s)", fontsize=AXES_FONT_PT, labelpad=2)
    ax.set_ylabel("Frequency (kHz)", fontsize=AXES_FONT_PT, labelpad=2)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    grey = rgba[..., :3].mean(axis=2)
    idx = (CMAP_LEVELS + np.round(grey / 255 * (FRAME_LEVELS - 1))).astype(np.uint8)
    return Frame(idx, left, top)


def spectrogram_image(samples: np.ndarray, settings: RenderSettings, rate: int, clip_seconds: float) -> bytes:
    db = spectrogram_db(samples, settings, rate)
    return encode_image(to_levels(db, *db_limits(db, settings)), settings, rate, clip_seconds)


def encode_image(levels: np.ndarray, settings: RenderSettings, rate: int, clip_seconds: float) -> bytes:
    """Palette indices -> the image a volunteer sees: resized to the plot area, pasted into the frame,
    encoded in the settings' format.

    Everything stays a palette image in Pillow's C code until the encoder: indexing a colour table
    with numpy cost three times as much as the rest of this function (bench/README.md).
    """
    pw, ph = settings.plot_size
    img = Image.fromarray(np.ascontiguousarray(levels), mode="L")
    if img.size != (pw, ph):
        img = img.resize((pw, ph), Image.Resampling.BILINEAR)
    if settings.axes:
        f = frame(settings, clip_seconds, rate)
        canvas = _frame_image(settings, clip_seconds, rate).copy()
        canvas.paste(img, (f.left, f.top))
        img = canvas
    else:
        img.putpalette(palette(settings.cmap))  # an "L" image becomes "P" with the same indices
    buf = io.BytesIO()
    if settings.image_format == "png":
        # level 1 with Huffman-only coding (zlib strategy 2): 3-5x faster than the default, ~10 % larger
        img.save(buf, format="PNG", compress_level=1, compress_type=2)
    else:
        img.convert("RGB").save(buf, format="JPEG", quality=settings.jpeg_quality)
    return buf.getvalue()


@lru_cache(maxsize=4)
def _frame_image(settings: RenderSettings, clip_seconds: float, rate: int) -> Image.Image:
    """The frame as a palette image, copied for each clip (never drawn on)."""
    img = Image.fromarray(frame(settings, clip_seconds, rate).pixels, mode="L")
    img.putpalette(palette(settings.cmap))
    return img


def output_rate(settings: RenderSettings, rate: int) -> int:
    return settings.audio_rate or rate


def _resampled(x: np.ndarray, rate: int, to: int) -> np.ndarray:
    """Polyphase resampling by the ratio to/rate in lowest terms, with its anti-aliasing filter."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(to, rate)
    return resample_poly(x, to // g, rate // g)


def wav_samples(samples: np.ndarray, settings: RenderSettings, rate: int | None = None) -> np.ndarray:
    """What goes into the WAV: documented so that a listener can get back to counts.

    int16: `round((y - mean(y)) * 32767 / max|y - mean(y)|)` where y is the clip, resampled to
    `audio_rate` when one is set; int32-raw: the counts unchanged.
    """
    if settings.wav == WAV_RAW:
        return samples.astype(np.int32, copy=False)
    x = samples.astype(np.float64)  # one buffer, worked on in place: a clip is 320,000 samples
    if rate is not None and output_rate(settings, rate) != rate:
        x = _resampled(x, rate, output_rate(settings, rate))
    x -= x.mean()
    peak = max(float(x.max()), -float(x.min()))
    if peak == 0:
        return np.zeros(len(x), dtype=np.int16)
    x *= 32767.0 / peak
    np.rint(x, out=x)
    return x.astype(np.int16)


WAV_HEADER_BYTES = 44
"""The canonical header: RIFF, fmt and the data chunk's own header."""


@dataclass(frozen=True)
class WavInfo:
    """Where a clip's sound comes from, written into its WAV (`wav_bytes`): OOI's own FLAC writer
    records the same in its files' tags (ooi-hyd-tools, docs/data-access.md: `date` holds the exact
    start, `comment` `refdes=... start=... npts=... sampling_rate=...`)."""

    sample_id: str
    start: str
    """UTC time of the first sample, ISO 8601 with microseconds and a `Z`."""
    refdes: str
    sources: tuple[str, ...]
    """The names of the files whose samples the clip holds."""
    software: str


WAV_INFO_FIELDS = (("INAM", 96), ("ICRD", 32), ("IART", 48), ("ISFT", 64), ("ICMT", 720))
"""RIFF INFO fields and their fixed widths in bytes, NUL-padded. libsndfile (so soundfile) reads them
as title, date, artist, software and comment; ffprobe, sox and most audio editors show them too. The
widths are fixed so that a WAV's size is known before it is made (`wav_size`): a stored clip is
recognised by its size, and a new software version or longer file names must not change it."""
WAV_INFO_BYTES = 12 + sum(8 + width for _, width in WAV_INFO_FIELDS)
"""The LIST chunk: its header, `INFO`, and each field's header and text."""


def info_chunk(info: WavInfo | None, settings: RenderSettings, rate: int, frames: int) -> bytes:
    """The LIST/INFO chunk of `WAV_INFO_BYTES`; the comment holds everything, the other fields one
    fact each. Text too long for its field is cut; the sources that do not fit are counted."""
    if info is None:
        texts = {tag: "" for tag, _ in WAV_INFO_FIELDS}
    else:
        head = (f"refdes={info.refdes} start={info.start} sample_rate={rate} samples={frames} "
                f"wav={settings.wav} software={info.software} source=")
        room = dict(WAV_INFO_FIELDS)["ICMT"] - 1 - len(head)
        names = list(info.sources)
        while names and len(_sources(names, len(info.sources))) > room:
            names.pop()
        texts = {"INAM": info.sample_id, "ICRD": info.start, "IART": info.refdes, "ISFT": info.software,
                 "ICMT": head + _sources(names, len(info.sources))}
    body = b"INFO"
    for tag, width in WAV_INFO_FIELDS:
        text = texts[tag].encode("ascii", "replace")[: width - 1]
        body += tag.encode() + struct.pack("<I", width) + text + b"\0" * (width - len(text))
    return b"LIST" + struct.pack("<I", len(body)) + body


def _sources(names: list[str], total: int) -> str:
    more = total - len(names)
    return ",".join(names) + (f" and {more} more (see the day manifest)" if more else "")


def wav_size(settings: RenderSettings, n_samples: int, rate: int | None = None) -> int:
    """Bytes of a clip's WAV: known before rendering, so a stored WAV of another size is not trusted.
    `rate` is the source's; it matters only with an `audio_rate`."""
    if rate is not None and output_rate(settings, rate) != rate:
        n_samples = -(-n_samples * output_rate(settings, rate) // rate)  # resample_poly's length: ceil(n * up / down)
    return WAV_HEADER_BYTES + WAV_INFO_BYTES + n_samples * (4 if settings.wav == WAV_RAW else 2)


def wav_bytes(samples: np.ndarray, settings: RenderSettings, rate: int, info: WavInfo | None = None) -> bytes:
    """A PCM WAV written directly (~10x cheaper than going through libsndfile): the canonical header,
    with a fixed-size LIST/INFO chunk (`info`, the clip's provenance) between `fmt ` and `data`."""
    data = wav_samples(samples, settings, rate).astype("<i4" if settings.wav == WAV_RAW else "<i2", copy=False)
    width = data.dtype.itemsize
    body = data.tobytes()
    rate = output_rate(settings, rate)
    listing = info_chunk(info, settings, rate, len(data))
    header = struct.pack(
        "<4sI4s4sIHHIIHH", b"RIFF", 36 + len(listing) + len(body), b"WAVE", b"fmt ", 16, 1, 1,
        rate, rate * width, width, 8 * width,
    )
    return header + listing + struct.pack("<4sI", b"data", len(body)) + body
