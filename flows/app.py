"""The app a run feeds, saved as a Prefect block: its config (the contract) and its database credential.

Runs and `whaledr sync` take the block by name (`--app`); the credential is loaded from it inside the
process that needs it and never travels as a parameter. Before any work, a run checks that the keys it
will write resolve under the app's templates (`check_target`).
"""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from prefect_gcp import GcpCredentials
from pydantic import Field, SecretStr

from whaledr_core.app import LIVE, AppConfig, Layout, disagreement
from whaledr_core.appsync import Database
from whaledr_core.gauth import ServiceAccountTokens
from whaledr_core.render import RenderSettings

from .params import App, Output
from .targets import firebase, load_block


class AppMismatch(ValueError):
    """The keys a run would write are not where the app looks: one line names the part."""


class WhaledrApp(Block):
    """The whaledr app as its own config describes it; the defaults are the live app's."""

    _block_type_name = "whaledr App"
    _block_type_slug = "whaledr-app"
    _description = ("The app a run feeds: where it reads its manifest, images and sounds, and its Realtime "
                    "Database with a credential (a GcpCredentials block, or a legacy database secret).")

    manifest_url: str = Field(default=LIVE.manifest_url, description="The app's manifestUrl.")
    image_url_template: str = Field(default=LIVE.image_template, description="widgetProperties.baseUrlTemplate")
    sound_url_template: str = Field(default=LIVE.sound_template, description="widgetProperties.soundUrlTemplate")
    delimiter: str = Field(default=LIVE.delimiter, description="widgetProperties.delimiter")
    origin: str = Field(default=LIVE.origin, description="Where the app's pages are served from (for CORS).")
    database_url: str = Field(default=LIVE.database_url, description="firebaseKeys.databaseURL")
    database_schema: Literal["sampleCounts", "samples"] = Field(
        default="sampleCounts", description="sampleCounts (the live app) or samples (SwipesForScience 2022+).")
    gcp_credentials: GcpCredentials | None = Field(
        default=None, description="A service account allowed to write the database: tokens are minted from it.")
    database_secret: SecretStr | None = Field(default=None, description="A legacy database secret (deprecated).")

    def config(self) -> AppConfig:
        return AppConfig(manifest_url=self.manifest_url, image_template=self.image_url_template,
                         sound_template=self.sound_url_template, delimiter=self.delimiter,
                         database_url=self.database_url, database_schema=self.database_schema, origin=self.origin)

    def database(self) -> Database:
        if self.gcp_credentials is not None and self.database_secret is not None:
            raise ValueError("the app block holds a service account and a database secret: keep one")
        if self.gcp_credentials is not None:
            tokens = ServiceAccountTokens(self.gcp_credentials.get_credentials_from_service_account())
            return Database(url=self.database_url, tokens=tokens)
        if self.database_secret is not None:
            return Database(url=self.database_url, secret=self.database_secret.get_secret_value())
        raise ValueError("the app block holds no database credential: add a GcpCredentials block")


def load_app(name: str) -> WhaledrApp:
    return load_block(WhaledrApp, name)


def layout(output: Output, render_settings: RenderSettings) -> Layout:
    sink = output.open()
    return Layout(getattr(sink, "bucket", None), sink.prefix, render_settings.image.extension)


def check_target(app_block: str, output: Output, render_settings: RenderSettings) -> AppConfig:
    """The app's config, once the run's keys are known to resolve under its templates."""
    config = load_app(app_block).config()
    problem = disagreement(config, layout(output, render_settings))
    if problem:
        raise AppMismatch(f"app block {app_block!r} and {output.describe()} disagree on the {problem}")
    return config


def app_database(app: App) -> tuple[Database, str]:
    """The app's database with its credential, and the schema its samples are kept in: from the app
    block, or from a Firebase block (the live app's `sampleCounts`)."""
    if app.block:
        block = load_app(app.block)
        return block.database(), block.database_schema
    if app.firebase_block:
        return firebase(app.firebase_block), "sampleCounts"
    raise ValueError("no app database: name an app block or a Firebase block")
