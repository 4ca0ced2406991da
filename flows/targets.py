"""Where a run's output goes, named without secrets: a local folder, or saved Prefect blocks.

Flow and task parameters are stored by the Prefect server and shown in its UI, so they carry only
block *names*; the credentials are loaded from the blocks inside the process that needs them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar, cast

from prefect.blocks.core import Block
from prefect_gcp import GcpCredentials
from pydantic import Field, SecretStr

from whaledr_core.appsync import Database
from whaledr_core.gauth import ServiceAccountTokens
from whaledr_core.sinks import S3Sink, s3_client

if TYPE_CHECKING:
    from .params import Output

UPLOADS = 2
"""A day run's upload tasks at once (one per worker, by default); each moves its file's clips
`Output.upload_concurrency` at a time, over one S3 connection pool sized for all of them."""


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


B = TypeVar("B", bound=Block)


def load_block(cls: type[B], name: str) -> B:
    try:
        return cast(B, cls.load(name))  # Prefect's load answers a coroutine only in async code
    except ValueError as e:  # Prefect's "Unable to find block document named ..."
        raise BlockMissing(f"no {cls.get_block_type_name()} block named {name!r}: "
                           f"create it with `whaledr blocks` ({e})") from None


@lru_cache(maxsize=4)
def open_s3_output(output: Output) -> S3Sink:
    """One S3 sink (and one connection pool) per process and output: the bucket of its S3 block."""
    assert output.s3_block, "a folder output is opened by Output.open"
    from prefect_aws import S3Bucket

    bucket = load_block(S3Bucket, output.s3_block)
    if output.prefix and output.prefix.strip("/") != bucket.bucket_folder.strip("/"):
        raise ValueError("with an S3 block, the key prefix is the block's bucket_folder; drop --prefix")
    creds = bucket.credentials
    client = s3_client(creds.get_boto3_session(), creds.aws_client_parameters.endpoint_url,
                       UPLOADS * output.upload_concurrency)
    return S3Sink(client, bucket.bucket_name, bucket.bucket_folder, output.upload_concurrency,
                  output.public_read, output.cache_control)


def firebase(name: str) -> Database:
    return load_block(FirebaseDatabase, name).database()
