"""Where a run's output goes, named without secrets: a local folder, or saved Prefect blocks.

Flow and task parameters are stored by the Prefect server and shown in its UI, so they carry only
block *names*; the credentials are loaded from the blocks inside the process that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from prefect.blocks.core import Block
from prefect_gcp import GcpCredentials
from pydantic import Field, SecretStr

from whaledr_core.appsync import Database
from whaledr_core.gauth import ServiceAccountTokens
from whaledr_core.sinks import DEFAULT_UPLOAD_CONCURRENCY, S3Sink, Sink, open_sink, s3_client


class FirebaseDatabase(Block):
    """The app's Firebase Realtime Database: its URL and one credential, kept as secrets."""

    _block_type_name = "whaledr Firebase Database"
    _block_type_slug = "whaledr-firebase-database"
    _description = "The whaledr app's Realtime Database, for the /sampleCounts sync."

    database_url: str = Field(description="e.g. https://whaledr-default-rtdb.firebaseio.com")
    database_secret: SecretStr | None = Field(default=None, description="A legacy database secret (sent as auth=).")
    access_token: SecretStr | None = Field(
        default=None, description="A Google OAuth2 access token of a service account (sent as access_token=)."
    )
    gcp_credentials: GcpCredentials | None = Field(
        default=None, description="A service account: tokens are minted from it and refreshed (unattended runs)."
    )

    def database(self) -> Database:
        return Database(
            url=self.database_url,
            secret=self.database_secret.get_secret_value() if self.database_secret else None,
            access_token=self.access_token.get_secret_value() if self.access_token else None,
            tokens=ServiceAccountTokens(self.gcp_credentials.get_credentials_from_service_account())
            if self.gcp_credentials else None,
        )


class BlockMissing(LookupError):
    """A block name that the Prefect server does not know, or a block of the wrong type."""


def load_block(cls: type[Block], name: str) -> Block:
    try:
        return cls.load(name)
    except ValueError as e:  # Prefect's "Unable to find block document named ..."
        raise BlockMissing(f"no {cls.get_block_type_name()} block named {name!r}: create it with `whaledr blocks` ({e})") from None


@dataclass(frozen=True)
class Target:
    out: str = "whaledr-out"
    """A local folder; used when no S3 block is named."""
    prefix: str = ""
    """Key prefix under the folder; an S3 block's own `bucket_folder` is its prefix."""
    s3_block: str | None = None
    """Name of a saved prefect-aws `S3Bucket` block."""
    upload_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY
    public_read: bool = False
    """Upload with the `public-read` ACL, for buckets that use ACLs rather than a bucket policy."""
    cache_control: str | None = None
    """`Cache-Control` for clips, e.g. `public, max-age=31536000, immutable` (clips never change)."""

    def describe(self) -> str:
        return f"S3 block {self.s3_block!r}" if self.s3_block else f"folder {self.out}"

    def open(self) -> Sink:
        return _open(self)


@lru_cache(maxsize=4)
def _open(target: Target) -> Sink:
    """One sink (and one S3 connection pool) per process and target."""
    if not target.s3_block:
        return open_sink(target.out, target.prefix)
    from prefect_aws import S3Bucket

    bucket = load_block(S3Bucket, target.s3_block)
    if target.prefix and target.prefix.strip("/") != bucket.bucket_folder.strip("/"):
        raise ValueError("with an S3 block, the key prefix is the block's bucket_folder; drop --prefix")
    creds = bucket.credentials
    client = s3_client(creds.get_boto3_session(), creds.aws_client_parameters.endpoint_url, target.upload_concurrency)
    return S3Sink(client, bucket.bucket_name, bucket.bucket_folder, target.upload_concurrency,
                  target.public_read, target.cache_control)


def firebase(name: str) -> Database:
    return load_block(FirebaseDatabase, name).database()
