"""`whaledr blocks` (S3 and Firebase) and `whaledr app-block` (the app a run feeds): save the blocks a
run names, with secrets read from the environment, a hidden prompt or a key file, never from the
command line (shell history, `ps`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from whaledr_core.app import LIVE

from . import options as o
from .local import quiet


def _secret(env: str, prompt: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        o.fail(f"set {env} in the environment (or run in a terminal to be asked for it)")
    return typer.prompt(prompt, hide_input=True)


def blocks(
    bucket: Annotated[str | None, typer.Option(help="S3 bucket the app reads from.")] = None,
    folder: Annotated[str, typer.Option(help="Key prefix in the bucket (the app's {prefix}).")] = "",
    endpoint_url: Annotated[str | None, typer.Option(help="For S3-compatible stores (MinIO, ...).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region of the bucket.")] = None,
    aws_block: Annotated[str, typer.Option(help="Name to save the AwsCredentials block under.")] = "whaledr-aws",
    s3_block: Annotated[str, typer.Option(help="Name to save the S3Bucket block under.")] = "whaledr-s3",
    firebase_url: Annotated[str | None, typer.Option(
        help="Realtime Database URL, https://<db>.firebaseio.com.")] = None,
    firebase_credential: Annotated[str, typer.Option(
        help="'secret' (database secret, WHALEDR_FIREBASE_SECRET) or 'token' (OAuth access token, "
             "WHALEDR_FIREBASE_TOKEN).")] = "secret",
    firebase_block: Annotated[str, typer.Option(help="Name to save the Firebase block under.")] = "whaledr-firebase",
    verbose: o.Verbose = False,
) -> None:
    """Save the S3 and Firebase blocks a run uses. Secrets come from AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) and WHALEDR_FIREBASE_SECRET or WHALEDR_FIREBASE_TOKEN,
    or from a hidden prompt; never from the command line."""
    if not bucket and not firebase_url:
        o.fail("nothing to save: give --bucket, --firebase-url or both")
    if firebase_credential not in ("secret", "token"):
        o.fail("--firebase-credential is 'secret' or 'token'")
    if firebase_url and not firebase_url.startswith(("https://", "http://")):
        o.fail(f"--firebase-url must start with https:// (got {firebase_url!r})")
    keys = None
    if bucket:
        keys = (_secret("AWS_ACCESS_KEY_ID", "AWS access key ID"),
                _secret("AWS_SECRET_ACCESS_KEY", "AWS secret access key"), os.environ.get("AWS_SESSION_TOKEN"))
    credential = None
    if firebase_url:
        env = "WHALEDR_FIREBASE_SECRET" if firebase_credential == "secret" else "WHALEDR_FIREBASE_TOKEN"
        credential = _secret(env, f"Firebase database {firebase_credential}")
    quiet(verbose)
    from ..server import prefect_api

    with prefect_api():
        from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

        from ..targets import FirebaseDatabase

        if bucket and keys:
            creds = AwsCredentials(aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                                   aws_session_token=keys[2], region_name=region,
                                   aws_client_parameters=AwsClientParameters(endpoint_url=endpoint_url))
            creds.save(aws_block, overwrite=True)
            S3Bucket(bucket_name=bucket, credentials=creds, bucket_folder=folder).save(s3_block, overwrite=True)
            where = f"s3://{bucket}/{folder}" + (f" at {endpoint_url}" if endpoint_url else "")
            typer.echo(f"saved AwsCredentials block {aws_block!r} and S3Bucket block {s3_block!r} ({where})")
        if firebase_url and credential:
            field = "database_secret" if firebase_credential == "secret" else "access_token"
            FirebaseDatabase(database_url=firebase_url, **{field: credential}).save(firebase_block, overwrite=True)
            typer.echo(f"saved Firebase block {firebase_block!r} ({firebase_url}, {firebase_credential})")


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
    service_account: Annotated[Path | None, typer.Option(
        help="A service account's JSON key: saved as a GcpCredentials block (the file is read, not kept).")] = None,
    gcp_block: Annotated[str | None, typer.Option(
        help="Use this saved GcpCredentials block, or the name to save --service-account under.")] = None,
    legacy_auth: Annotated[bool, typer.Option(
        help="Use a legacy database secret from WHALEDR_FIREBASE_SECRET (or a hidden prompt) instead.")] = False,
    verbose: o.Verbose = False,
) -> None:
    """Save the app a run feeds: its templates, its database and a credential. The defaults are the live
    whaledr app's config. The credential is a service account (preferred: tokens are minted as needed)
    or a legacy database secret; it never comes from the command line."""
    from whaledr_core.app import AppConfig

    try:
        AppConfig(manifest_url, image_template, sound_template, delimiter, database_url, schema, origin)
    except ValueError as e:
        o.fail(str(e))
    if (service_account is not None or gcp_block) and legacy_auth:
        o.fail("give --service-account (or --gcp-block) or --legacy-auth, not both")
    info = None
    if service_account is not None:
        try:
            info = json.loads(service_account.read_text())
        except (OSError, ValueError) as e:
            o.fail(f"{service_account}: not a service account's JSON key ({type(e).__name__})")
        if not isinstance(info, dict) or info.get("type") != "service_account":
            o.fail(f"{service_account}: not a service account's JSON key (no \"type\": \"service_account\")")
    secret = _secret("WHALEDR_FIREBASE_SECRET", "Firebase database secret") if legacy_auth else None
    quiet(verbose)
    from ..server import prefect_api

    with prefect_api():
        from prefect_gcp import GcpCredentials
        from pydantic import SecretStr

        from ..app import WhaledrApp
        from ..targets import BlockMissing, load_block

        creds = None
        if info is not None:
            creds = GcpCredentials(service_account_info=info)
            creds.save(gcp_block or f"{name}-gcp", overwrite=True)
        elif gcp_block:
            try:
                creds = load_block(GcpCredentials, gcp_block)
            except BlockMissing as e:
                o.fail(str(e))
        block = WhaledrApp(manifest_url=manifest_url, image_url_template=image_template,
                           sound_url_template=sound_template, delimiter=delimiter, origin=origin,
                           database_url=database_url, database_schema=schema,
                           gcp_credentials=creds, database_secret=SecretStr(secret) if secret else None)
        block.save(name, overwrite=True)
    credential = ("service account " + str(info.get("client_email")) if info else f"GcpCredentials {gcp_block!r}"
                  if gcp_block else "legacy secret" if secret else "no credential (manifest only)")
    typer.echo(f"saved whaledr App block {name!r}: {manifest_url}, /{schema} at {database_url}, {credential}")
