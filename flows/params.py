"""The flows' parameters, grouped as a person thinks of them: where clips go, which app to tell, how
files are fetched, how clips look and sound, and which clips reach volunteers.

Each group is a pydantic model, so that the Prefect UI's run form shows it as one section with a
description under every field, and the daily, backfill and day flows share it instead of repeating
its fields. Defaults come from the core's own settings classes: one source for each.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from whaledr_core.catalog import SAMPLE_RATE
from whaledr_core.clips import ClipSettings
from whaledr_core.publish import ALL, Budget, parse_budget
from whaledr_core.render import (
    DB_POLICIES,
    IMAGE_FORMATS,
    PRESET_FIELDS,
    PRESETS,
    WAV_NORMALISED,
    WAV_RAW,
    RenderSettings,
    palette,
    preset_settings,
)
from whaledr_core.sinks import DEFAULT_UPLOAD_CONCURRENCY, Sink, open_sink

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_R = RenderSettings()


class Output(BaseModel):
    """Where clips and manifests go: a local folder, or the bucket of a saved S3Bucket block. Only
    block *names* are parameters: the Prefect server stores parameters and shows them in its UI."""

    model_config = _FROZEN

    folder: str = Field("whaledr-out", description="Local output folder, used when no S3 block is named.")
    s3_block: str | None = Field(None, description="Name of a saved S3Bucket block (`whaledr blocks`); "
                                 "keys go under its bucket_folder.")
    prefix: str = Field("", description="Key prefix under the folder (an S3 block's bucket_folder is its own).")
    upload_concurrency: int = Field(DEFAULT_UPLOAD_CONCURRENCY, ge=1, description="Parallel uploads per worker.")
    public_read: bool = Field(False, description="Upload with the public-read ACL (for buckets that use ACLs).")
    cache_control: str | None = Field(None, description="Cache-Control of clips, e.g. "
                                      "'public, max-age=31536000, immutable' (clips never change).")

    def describe(self) -> str:
        return f"S3 block {self.s3_block!r}" if self.s3_block else f"folder {self.folder}"

    def open(self) -> Sink:
        """One sink (and one S3 connection pool) per process and output. A folder needs no Prefect:
        the day's worker processes do not import it (flows.pool)."""
        if not self.s3_block:
            return open_sink(self.folder, self.prefix)
        from .targets import open_s3_output

        return open_s3_output(self)


class App(BaseModel):
    """The app to tell about new samples, after the app manifest lists them."""

    model_config = _FROZEN

    block: str | None = Field(None, description="Name of a saved whaledr App block (`whaledr app-block`): "
                              "the keys are checked against its templates before any work, and the new IDs "
                              "go to its database, in its schema, with its credential.")
    firebase_block: str | None = Field(None, description="Or the name of a saved Firebase block: add the new IDs "
                                       "to /sampleCounts of that Realtime Database. Neither: the manifest only.")

    @model_validator(mode="after")
    def _one_database(self) -> App:
        if self.block and self.firebase_block:
            raise ValueError("give an app block or a Firebase block, not both: the app block holds the database")
        return self


class Downloads(BaseModel):
    """How the day's files are fetched from the source."""

    model_config = _FROZEN

    cache: str | None = Field(None, description="Download cache folder. None: ~/.cache/whaledr "
                              "($XDG_CACHE_HOME/whaledr) of the machine that fetches.")
    keep: bool = Field(False, description="Keep a finished day's downloads (else deleted once the day is complete).")
    concurrency: int = Field(4, ge=1, description="Files fetched at once while the workers process.")


class Rendering(BaseModel):
    """How clips are cut, and how they look and sound (docs, "How clips look and sound")."""

    model_config = _FROZEN

    clip_seconds: int = Field(ClipSettings.clip_seconds, ge=1, description="Clip length; must divide a day.")
    preset: str = Field("default", pattern=f"^({'|'.join(PRESETS)})$",
                        description="Starting point for the settings below left empty: 'default' (0-4 kHz, nfft 4096), "
                        "or 'low' for blue and fin whales (10-500 Hz, nfft 16384, contrast over the floor). docs, "
                        "\"Low-frequency calls\".")
    nfft: int | None = Field(None, description=f"FFT length, a power of two. Empty: the preset's ({_R.nfft} by "
                             "default).")
    overlap: float | None = Field(None, ge=0, lt=1, description=f"FFT window overlap, 0-1. Empty: the preset's "
                                  f"({_R.overlap:g} by default).")
    fmin: float | None = Field(None, ge=0, description=f"Lowest frequency shown, Hz. Empty: the preset's "
                               f"({_R.fmin:g} by default).")
    fmax: float | None = Field(None, gt=0, description=f"Highest frequency shown, Hz (below Nyquist). Empty: the "
                               f"preset's ({_R.fmax:g} by default).")
    cmap: str = Field(_R.cmap, description="Matplotlib colour map.")
    db_policy: str | None = Field(None, pattern=f"^({'|'.join(DB_POLICIES)})$",
                                  description="'percentile': contrast from each clip's own dB percentiles; "
                                  "'fixed': from db_low..db_high dB; 'floor': 0-24 dB over the file's noise floor "
                                  f"per frequency (calls stand out on an even background). Empty: the preset's "
                                  f"({_R.db_policy!r} by default).")
    db_low: float = Field(_R.db_low, description="Percentile (or dB, when fixed) shown darkest.")
    db_high: float = Field(_R.db_high, description="Percentile (or dB, when fixed) shown brightest.")
    width: int = Field(_R.width, ge=16, description="Whole image width, axes included, pixels.")
    height: int = Field(_R.height, ge=16, description="Whole image height, pixels (the app shows a square).")
    axes: bool = Field(_R.axes, description="Labelled time and frequency axes around the plot.")
    image_format: str = Field(_R.image_format, pattern=f"^({'|'.join(IMAGE_FORMATS)})$",
                              description="jpeg (the live app's .jpg) or png; the key's extension follows it.")
    jpeg_quality: int = Field(_R.jpeg_quality, ge=1, le=95,
                              description="JPEG quality (docs, \"How clips look and sound\": why 75).")
    wav: str = Field(_R.wav, pattern=f"^({WAV_NORMALISED}|{WAV_RAW})$",
                     description=f"'{WAV_NORMALISED}': mean removed, peak-normalised; '{WAV_RAW}': the counts.")
    audio_rate: int | None = Field(_R.audio_rate, ge=1000, description="Resample the WAV to this rate, Hz "
                                   "(16000 for phones). None: the source's rate.")

    @model_validator(mode="after")
    def _the_core_accepts_them(self) -> Rendering:
        """The core's own checks (a power of two, a length that divides a day, a band below Nyquist, an
        image large enough for its axes) refuse a bad value in the form, before any day run starts."""
        self.clip_settings()
        self.render_settings().check_rate(SAMPLE_RATE)
        palette(self.cmap)
        return self

    def clip_settings(self) -> ClipSettings:
        return ClipSettings(clip_seconds=self.clip_seconds)

    def render_settings(self) -> RenderSettings:
        """The preset's settings, with every setting given here on top (an empty preset field keeps the preset's)."""
        given = self.model_dump(exclude={"clip_seconds", "preset"})
        return preset_settings(self.preset, **{k: v for k, v in given.items()
                                               if k not in PRESET_FIELDS or v is not None})


STORE_PUBLISHED = "published"
STORE_ALL = "all"


class Selection(BaseModel):
    """Which of the day's clips reach volunteers, and which are stored (docs, "Which clips reach volunteers")."""

    model_config = _FROZEN

    publish: str = Field(ALL, description="'all' (every clip), 'top:N' (the day's N highest call scores) or "
                         "'top:N+random:M' (and M more drawn from the rest). Only published clips go to the "
                         "app manifest and database; a rerun never withdraws a published clip.")
    store: str = Field(STORE_PUBLISHED, pattern=f"^({STORE_PUBLISHED}|{STORE_ALL})$",
                       description=f"'{STORE_PUBLISHED}': with a top budget, only published clips are encoded "
                       f"and stored (the rest are scored only); '{STORE_ALL}': every clip is stored too.")

    @field_validator("publish")
    @classmethod
    def _budget(cls, value: str) -> str:
        return str(parse_budget(value))  # an error names the text; a valid one is kept in its plain spelling

    def budget(self) -> Budget:
        return parse_budget(self.publish)

    @property
    def two_passes(self) -> bool:
        """Score every file first, then encode only the chosen windows (top budget, published clips stored)."""
        return not self.budget().is_all and self.store == STORE_PUBLISHED
