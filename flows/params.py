"""The flows' parameters, grouped as a person thinks of them: where clips go, which app to tell, how
files are fetched, how clips look and sound, and which clips reach volunteers.

Each group is a pydantic model, so that the Prefect UI's run form shows it as one section with a
description under every field, and the daily, backfill and day flows share it instead of repeating
its fields. Defaults come from the core's own settings classes: one source for each.

The form is for people (docs, "What the UI tells": the run form): every field has a label in words (`title`), a field
that takes a few values offers them as choices, and a field that is "nothing or a value" is a plain
field whose empty value means nothing (`Text`, `Number`) rather than `X | None`, which the form shows
as a switch between the type and "None".
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

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


def titled(title: str) -> Any:
    """The label of a flow's own parameter in the run form (`Annotated[int, titled("Days at once")]`):
    Prefect titles them with their Python names, and a label set this way wins."""
    return Field(json_schema_extra={"title": title})


def _none_is(empty: object) -> Any:
    return BeforeValidator(lambda value: empty if value is None else value)


Text = Annotated[str, _none_is("")]
"""Text that may be left empty (no block, no header): a plain text box in the form, where `str | None`
is a switch between a text box and "None" ("Property is type None"). None from Python code is empty.
Prefect's server also refuses a null where a deployment's schema says string, so no field is nullable."""
Number = Annotated[int, _none_is(0)]
"""A whole number whose 0 means "none" (the source's audio rate), as `Text`."""


def choices(values: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Field(..., **choices(...)): the form offers `values` (the field's own check still refuses others)."""
    return {"json_schema_extra": {"enum": list(values)}}


class Output(BaseModel):
    """Where clips and manifests go: a local folder, or the bucket of a saved S3Bucket block. Only
    block *names* are parameters: the Prefect server stores parameters and shows them in its UI."""

    model_config = _FROZEN

    folder: str = Field("whaledr-out", title="Folder",
                        description="Local output folder, used when no S3 block is named.")
    s3_block: Text = Field("", title="S3 block", description="Name of a saved S3Bucket block "
                                 "(`whaledr blocks`); keys go under its bucket_folder. Empty: the folder.")
    prefix: str = Field("", title="Key prefix",
                        description="Key prefix under the folder (an S3 block's bucket_folder is its own).")
    upload_concurrency: int = Field(DEFAULT_UPLOAD_CONCURRENCY, ge=1, title="Uploads at once",
                                    description="Parallel uploads per worker.")
    public_read: bool = Field(False, title="Public read",
                              description="Upload with the public-read ACL (for buckets that use ACLs).")
    cache_control: Text = Field("", title="Cache-Control", description="Cache-Control of "
                                      "clips, e.g. 'public, max-age=31536000, immutable' (clips never change).")

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

    block: Text = Field("", title="App block",
                              description="Name of a saved whaledr App block (`whaledr app-block`): "
                              "the keys are checked against its templates before any work, and the new IDs "
                              "go to its database, in its schema, with its credential.")
    firebase_block: Text = Field("", title="Firebase block",
                                       description="Or the name of a saved Firebase block: add the new IDs "
                                       "to /sampleCounts of that Realtime Database. Neither: the manifest only.")

    @model_validator(mode="after")
    def _one_database(self) -> App:
        if self.block and self.firebase_block:
            raise ValueError("give an app block or a Firebase block, not both: the app block holds the database")
        return self


class Downloads(BaseModel):
    """How the day's files are fetched from the source."""

    model_config = _FROZEN

    cache: Text = Field("", title="Cache folder", description="Download cache folder. "
                              "Empty: ~/.cache/whaledr ($XDG_CACHE_HOME/whaledr) of the machine that fetches.")
    keep: bool = Field(False, title="Keep downloads",
                       description="Keep a finished day's downloads (else deleted once the day is complete).")
    concurrency: int = Field(4, ge=1, title="Downloads at once",
                             description="Files fetched at once while the workers process.")


class Rendering(BaseModel):
    """How clips are cut, and how they look and sound (docs, "How clips look and sound")."""

    model_config = _FROZEN

    clip_seconds: int = Field(ClipSettings.clip_seconds, ge=1, title="Clip length (s)",
                              description="Clip length in seconds; must divide a day.")
    preset: str = Field("default", pattern=f"^({'|'.join(PRESETS)})$", **choices(list(PRESETS)), title="Preset",
                        description="Starting point for FFT length, overlap, band and contrast: 'default' (0-4 kHz, "
                        "nfft 4096), or 'low' for blue and fin whales (10-500 Hz, nfft 16384, contrast over the "
                        "floor). A setting below left at its default takes the preset's. docs, "
                        "\"Low-frequency calls\".")
    nfft: int = Field(_R.nfft, title="FFT length", description="FFT length, a power of two.")
    overlap: float = Field(_R.overlap, ge=0, lt=1, title="FFT overlap",
                           description="FFT window overlap, 0-1.")
    fmin: float = Field(_R.fmin, ge=0, title="Lowest frequency (Hz)",
                        description="Lowest frequency shown, Hz.")
    fmax: float = Field(_R.fmax, gt=0, title="Highest frequency (Hz)",
                        description="Highest frequency shown, Hz (below Nyquist).")
    cmap: str = Field(_R.cmap, title="Colour map", description="Matplotlib colour map, e.g. bone, viridis, gray.")
    db_policy: str = Field(_R.db_policy, pattern=f"^({'|'.join(DB_POLICIES)})$", **choices(DB_POLICIES),
                           title="Contrast",
                           description="'percentile': contrast from each clip's own dB percentiles; "
                           "'fixed': from Low dB..High dB; 'floor': 0-24 dB over the file's noise floor "
                           "per frequency (calls stand out on an even background).")
    db_low: float = Field(_R.db_low, title="Low dB", description="Percentile (or dB, when fixed) shown darkest.")
    db_high: float = Field(_R.db_high, title="High dB",
                           description="Percentile (or dB, when fixed) shown brightest.")
    width: int = Field(_R.width, ge=16, title="Width (px)", description="Whole image width, axes included, pixels.")
    height: int = Field(_R.height, ge=16, title="Height (px)",
                        description="Whole image height, pixels (the app shows a square).")
    axes: bool = Field(_R.axes, title="Axes", description="Labelled time and frequency axes around the plot.")
    image_format: str = Field(_R.image_format, pattern=f"^({'|'.join(IMAGE_FORMATS)})$", **choices(list(IMAGE_FORMATS)),
                              title="Image format",
                              description="jpeg (the live app's .jpg) or png; the key's extension follows it.")
    jpeg_quality: int = Field(_R.jpeg_quality, ge=1, le=95, title="JPEG quality",
                              description="JPEG quality (docs, \"How clips look and sound\": why 75).")
    wav: str = Field(_R.wav, pattern=f"^({WAV_NORMALISED}|{WAV_RAW})$", **choices((WAV_NORMALISED, WAV_RAW)),
                     title="WAV", description=f"'{WAV_NORMALISED}': mean removed, peak-normalised; "
                     f"'{WAV_RAW}': the counts.")
    audio_rate: Number = Field(_R.audio_rate or 0, ge=0, title="Audio rate (Hz)",
                               description="Resample the WAV to this rate, Hz (16000 for phones); at least "
                               "1000. 0: the source's rate.")

    @model_validator(mode="before")
    @classmethod
    def _none_is_the_presets(cls, data: Any) -> Any:
        """A preset field given as None (an option not given to `whaledr run`) is left at its default, which
        means the preset's."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in PRESET_FIELDS and v is None)}
        return data

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
        """The preset's settings, with every setting changed from its default here on top."""
        given = self.model_dump(exclude={"clip_seconds", "preset"})
        changed = {k: v for k, v in given.items() if k not in PRESET_FIELDS or v != getattr(_R, k)}
        return preset_settings(self.preset, **{**changed, "audio_rate": self.audio_rate or None})


STORE_PUBLISHED = "published"
STORE_ALL = "all"
SAFE_BUDGET = "top:40+random:10"
"""The daily, backfill and day deployments' budget: a few dozen a day, what volunteers can swipe
through and the app can take for years (docs, "The budget": choosing a budget). `all` stays a choice."""
BUDGET_PATTERN = "^(all|top:[0-9]+([+]random:[0-9]+)?)$"
"""The forms `publish.parse_budget` takes, for the run form to check as it is filled in."""


class Selection(BaseModel):
    """Which of the day's clips reach volunteers, and which are stored (docs, "Which clips reach volunteers")."""

    model_config = _FROZEN

    publish: str = Field(ALL, title="Publish (budget)", json_schema_extra={
                             "pattern": BUDGET_PATTERN, "examples": [SAFE_BUDGET, "top:300+random:60", ALL]},
                         description="How many of the day's clips volunteers get. 'top:N': the day's N highest "
                         "call scores; 'top:N+random:M': and M more drawn from the rest (so that volunteers also "
                         f"see ordinary sea); 'all': every clip (up to 17,280 a day). {SAFE_BUDGET} is what the "
                         "app can take every day. Only published clips go to the app manifest and database; a "
                         "rerun never withdraws a published clip.")
    store: str = Field(STORE_PUBLISHED, pattern=f"^({STORE_PUBLISHED}|{STORE_ALL})$",
                       **choices((STORE_PUBLISHED, STORE_ALL)), title="Store",
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


SAFE_SELECTION = Selection(publish=SAFE_BUDGET)
"""The selection of the deployments' forms (daily, backfill, day); the CLI's default stays `all`."""
