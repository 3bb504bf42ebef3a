"""A real S3-compatible server on 127.0.0.1 for tests (moto's server mode), with a
bucket made through botocore as a user would.

moto keeps its buckets in module-level state shared by every server in the process, so
each server starts by resetting it: under pytest-xdist one process runs many modules,
and a module must not see the objects an earlier module left."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.live import free_port

ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key"


@contextmanager
def s3_server(bucket: str = "switchyard-files") -> Iterator[str]:
    """Serve S3 on a free port until the block ends; yields its endpoint URL."""
    import botocore.session
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        client = botocore.session.get_session().create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


def store_env(endpoint: str, bucket: str = "switchyard-files") -> dict[str, str]:
    """The settings that point the gateway's file store at the server."""
    return {
        "SWITCHYARD_FILE_STORE": f"s3://{bucket}/gateway",
        "SWITCHYARD_FILE_STORE_ENDPOINT": endpoint,
        "SWITCHYARD_FILE_STORE_ACCESS_KEY_ID": ACCESS_KEY,
        "SWITCHYARD_FILE_STORE_SECRET_ACCESS_KEY": SECRET_KEY,
    }
