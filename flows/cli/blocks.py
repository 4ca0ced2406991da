"""`whaledr blocks`: save the blocks a run names, with secrets read from the environment or a hidden
prompt, never from the command line (shell history, `ps`)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

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
