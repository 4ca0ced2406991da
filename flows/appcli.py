"""`whaledr app-block` and `whaledr check-app`: save the app's config as a block, and load the app as
its browser does. flows/cli.py registers them (`register`), also when it runs as `python -m flows.cli`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from whaledr_core.app import LIVE


def register(app: typer.Typer) -> None:
    app.command("app-block")(app_block)
    app.command("check-app")(check_app)


def _fail(message: str, code: int = 2) -> None:
    from .cli import _fail as fail  # the CLI's own one-line failure; imported late, the CLI imports us

    fail(message, code)


def app_block(
    name: Annotated[str, typer.Option(help="Name to save the whaledr App block under.")] = "whaledr-app",
    manifest_url: Annotated[str, typer.Option(help="The app's manifestUrl.")] = LIVE.manifest_url,
    image_template: Annotated[str, typer.Option(help="The app's baseUrlTemplate ({0}, {1}: ID parts).")] = (
        LIVE.image_template),
    sound_template: Annotated[str, typer.Option(help="The app's soundUrlTemplate.")] = LIVE.sound_template,
    delimiter: Annotated[str, typer.Option(help="The app's delimiter.")] = LIVE.delimiter,
    origin: Annotated[str, typer.Option(help="Where the app's pages are served from (CORS).")] = LIVE.origin,
    database_url: Annotated[str, typer.Option(help="The app's firebaseKeys.databaseURL.")] = LIVE.database_url,
    schema: Annotated[str, typer.Option(help="sampleCounts (the live app) or samples (SwipesForScience 2022+).")] = (
        LIVE.database_schema),
    service_account: Annotated[Optional[Path], typer.Option(
        help="A service account's JSON key: saved as a GcpCredentials block (the file is read, not kept).")] = None,
    gcp_block: Annotated[Optional[str], typer.Option(
        help="Use this saved GcpCredentials block, or the name to save --service-account under.")] = None,
    legacy_auth: Annotated[bool, typer.Option(
        help="Use a legacy database secret from WHALEDR_FIREBASE_SECRET (or a hidden prompt) instead.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Save the app a run feeds: its templates, its database and a credential. The defaults are the live
    whaledr app's config. The credential is a service account (preferred: tokens are minted as needed)
    or a legacy database secret; it never comes from the command line."""
    from whaledr_core.app import AppConfig

    try:
        AppConfig(manifest_url, image_template, sound_template, delimiter, database_url, schema, origin)
    except ValueError as e:
        _fail(str(e))
    if (service_account is not None or gcp_block) and legacy_auth:
        _fail("give --service-account (or --gcp-block) or --legacy-auth, not both")
    info = None
    if service_account is not None:
        try:
            info = json.loads(service_account.read_text())
        except (OSError, ValueError) as e:
            _fail(f"{service_account}: not a service account's JSON key ({type(e).__name__})")
        if not isinstance(info, dict) or info.get("type") != "service_account":
            _fail(f"{service_account}: not a service account's JSON key (no \"type\": \"service_account\")")
    from .cli import _quiet, _secret

    secret = _secret("WHALEDR_FIREBASE_SECRET", "Firebase database secret") if legacy_auth else None
    _quiet(verbose)
    from .server import prefect_api

    with prefect_api():
        from prefect_gcp import GcpCredentials
        from pydantic import SecretStr

        from .app import WhaledrApp
        from .targets import BlockMissing, load_block

        creds = None
        if info is not None:
            creds = GcpCredentials(service_account_info=info)
            creds.save(gcp_block or f"{name}-gcp", overwrite=True)
        elif gcp_block:
            try:
                creds = load_block(GcpCredentials, gcp_block)
            except BlockMissing as e:
                _fail(str(e))
        block = WhaledrApp(manifest_url=manifest_url, image_url_template=image_template,
                           sound_url_template=sound_template, delimiter=delimiter, origin=origin,
                           database_url=database_url, database_schema=schema,  # type: ignore[arg-type]
                           gcp_credentials=creds, database_secret=SecretStr(secret) if secret else None)
        block.save(name, overwrite=True)
    credential = ("service account " + str(info.get("client_email")) if info else f"GcpCredentials {gcp_block!r}"
                  if gcp_block else "legacy secret" if secret else "no credential (manifest only)")
    typer.echo(f"saved whaledr App block {name!r}: {manifest_url}, /{schema} at {database_url}, {credential}")


def check_app(
    app_block: Annotated[Optional[str], typer.Option(
        "--app", help="Saved whaledr App block. [default: the live app's config]")] = None,
    sample: Annotated[Optional[int], typer.Option(help="Check N random samples instead of all.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed for --sample.")] = None,
    origin: Annotated[Optional[str], typer.Option(help="The app's origin for CORS. [default: the block's]")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.")] = 16,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Load the app as a browser does: its manifest anonymously, then each sample's image and sound
    built with the app's own URL rule; print a table of every URL that does not answer 200 with the
    right content type and a CORS header for the app's origin. Exit 1 if any fails."""
    import dataclasses

    from whaledr_core.appcheck import check_app as run_check
    from whaledr_core.appcheck import table

    if sample is not None and sample < 1:
        _fail("--sample must be at least 1")
    config = LIVE
    if app_block:
        from .cli import _quiet

        _quiet(verbose)
        from .server import prefect_api

        with prefect_api():
            from .app import load_app
            from .targets import BlockMissing

            try:
                config = load_app(app_block).config()
            except BlockMissing as e:
                _fail(str(e))
    if origin:
        config = dataclasses.replace(config, origin=origin)
    result = run_check(config, sample=sample, seed=seed, concurrency=concurrency)
    if result.failures:
        typer.echo(table(result))
    checked = f"{result.checked} of {result.manifest_ids} samples" if result.manifest_ids else "the manifest"
    bad = {f.sample for f in result.failures}
    summary = f"{config.manifest_url}: {checked} checked from {config.origin}, {len(bad)} failing"
    if result.ok:
        typer.echo(summary)
        return
    typer.secho(summary, fg="red", err=True)
    raise typer.Exit(1)

