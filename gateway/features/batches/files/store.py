"""Where files' bytes live: a local directory (the default, ``<data dir>/files``) or
S3-compatible storage through botocore (``SWITCHYARD_FILE_STORE=s3://bucket/prefix``).

Blocking calls: callers on the event loop run them in a thread. A local write goes to
a temporary file in the same directory and is renamed into place, so a reader never
sees half a file; an S3 ``PutObject`` is atomic by itself.

An upload arriving over the network is written as it comes through a ``Writer``
(``store.writer(name)``: ``write`` each piece, then ``commit``, or ``abort`` on any
failure, which leaves nothing). Locally that is the same temporary file renamed on
commit. On S3 it is a multipart upload of ``S3_PART_BYTES`` parts, started once the
first part is full (a smaller file is one ``PutObject`` at commit), completed on
commit and aborted on failure: no local disk is needed (an S3 store is what a gateway
with ephemeral or shared-nothing disks uses), memory holds at most one part, and the
upload to S3 overlaps the client's, so the answer comes soon after its last byte. An
object appears only when the upload completes, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from django.conf import settings

from gateway.base.errors import ConfigurationError, GatewayError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# an upload nothing has written to for this long was cut off with its worker (a SIGKILL
# or a lost machine skips ``abort``): ``prune_abandoned`` removes what it left
ABANDONED_SECONDS = 6 * 3600


class FileStoreError(GatewayError):
    """The store could not be read or written (the message names no credentials)."""

    status = 500
    kind = "api_error"


# S3 parts: at least 5 MiB each but the last (S3's rule); 8 MiB makes 10,000 parts (the
# most S3 takes) 80 GB, far past any file cap.
S3_PART_BYTES = 8 * 1024 * 1024


class Writer(Protocol):
    def write(self, data: bytes | bytearray) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class Store(Protocol):
    def put(self, name: str, source: IO[bytes]) -> None: ...
    def writer(self, name: str) -> Writer: ...
    def read(self, name: str) -> bytes: ...
    def lines(self, name: str) -> Iterator[bytes]: ...
    def delete(self, name: str) -> None: ...
    def describe(self) -> str: ...
    def prune_abandoned(self, idle_seconds: float = ABANDONED_SECONDS) -> int: ...


def _checked(name: str) -> str:
    if not _SAFE_NAME.match(name):  # ids only: never a path a caller chose
        raise ValueError(f"bad file name {name!r}")
    return name


class LocalStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return str(self.folder)

    def put(self, name: str, source: IO[bytes]) -> None:
        out = self.writer(name)
        try:
            while piece := source.read(1024 * 1024):
                out.write(piece)
            out.commit()
        except BaseException:
            out.abort()
            raise

    def writer(self, name: str) -> LocalWriter:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return LocalWriter(self.folder / _checked(name))

    def read(self, name: str) -> bytes:
        try:
            return (self.folder / _checked(name)).read_bytes()
        except FileNotFoundError:
            raise FileStoreError(f"the content of file {name} is missing from the store") from None

    def lines(self, name: str) -> Iterator[bytes]:
        try:
            source = (self.folder / _checked(name)).open("rb")
        except FileNotFoundError:
            raise FileStoreError(f"the content of file {name} is missing from the store") from None
        with source:
            yield from source

    def delete(self, name: str) -> None:
        with _quiet():
            (self.folder / _checked(name)).unlink()

    def prune_abandoned(self, idle_seconds: float = ABANDONED_SECONDS) -> int:
        """Remove the temporary files of uploads cut off with their worker: those not
        written for ``idle_seconds`` (a live upload writes every piece as it comes)."""
        cutoff, removed = time.time() - idle_seconds, 0
        for temporary in self.folder.glob(".upload-*"):
            with _quiet():
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
                    removed += 1
        return removed


class LocalWriter:
    """A temporary file beside ``target`` (same file system: the rename is atomic),
    renamed into place on commit."""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, self.temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        self.out = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray) -> None:
        self.out.write(data)

    def commit(self) -> None:
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        os.replace(self.temporary, self.target)

    def abort(self) -> None:
        self.out.close()
        with _quiet():
            os.unlink(self.temporary)


class S3Store:
    """``s3://bucket/prefix`` through botocore (path-style addressing, so any
    S3-compatible server works: MinIO, Ceph, R2, moto)."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if not parsed.netloc:
            raise ConfigurationError("SWITCHYARD_FILE_STORE: s3:// needs a bucket")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import botocore.config
                import botocore.session

                session = botocore.session.get_session()
                more: dict[str, Any] = {}
                if settings.SWITCHYARD_FILE_STORE_ACCESS_KEY_ID:
                    more["aws_access_key_id"] = settings.SWITCHYARD_FILE_STORE_ACCESS_KEY_ID
                    more["aws_secret_access_key"] = settings.SWITCHYARD_FILE_STORE_SECRET_ACCESS_KEY
                self._client = session.create_client(
                    "s3",
                    region_name=settings.SWITCHYARD_FILE_STORE_REGION or None,
                    endpoint_url=settings.SWITCHYARD_FILE_STORE_ENDPOINT or None,
                    config=botocore.config.Config(
                        s3={"addressing_style": "path"},
                        retries={"max_attempts": 3, "mode": "standard"},
                    ),
                    **more,
                )
            return self._client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{_checked(name)}" if self.prefix else _checked(name)

    def put(self, name: str, source: IO[bytes]) -> None:
        try:
            self.client().put_object(Bucket=self.bucket, Key=self._key(name), Body=source)
        except Exception as exc:
            raise FileStoreError(f"the file store refused the upload ({_reason(exc)})") from None

    def writer(self, name: str) -> S3Writer:
        return S3Writer(self, self._key(name))

    def lines(self, name: str) -> Iterator[bytes]:
        try:
            answer = self.client().get_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            raise FileStoreError(f"the file store could not read {name} ({_reason(exc)})") from None
        body = answer["Body"]
        try:
            yield from body.iter_lines(chunk_size=1024 * 1024, keepends=True)
        finally:
            body.close()

    def read(self, name: str) -> bytes:
        try:
            answer = self.client().get_object(Bucket=self.bucket, Key=self._key(name))
            with answer["Body"] as body:
                return bytes(body.read())
        except Exception as exc:
            raise FileStoreError(f"the file store could not read {name} ({_reason(exc)})") from None

    def delete(self, name: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            raise FileStoreError(
                f"the file store could not delete {name} ({_reason(exc)})"
            ) from None

    def prune_abandoned(self, idle_seconds: float = ABANDONED_SECONDS) -> int:
        """Abort the multipart uploads under our prefix begun more than ``idle_seconds``
        ago (S3 lists when an upload began, not its last part): their parts are billed
        storage until aborted, and a bucket need not have a lifecycle rule for them."""
        cutoff = datetime.now(UTC) - timedelta(seconds=idle_seconds)
        prefix = f"{self.prefix}/" if self.prefix else ""
        client, removed = self.client(), 0
        try:
            pages = client.get_paginator("list_multipart_uploads")
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] >= cutoff:
                        continue
                    with contextlib.suppress(Exception):  # another worker may have aborted it
                        client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        except Exception as exc:
            raise FileStoreError(
                f"the file store could not list uploads ({_reason(exc)})"
            ) from None
        return removed


class S3Writer:
    """A multipart upload, begun when the first ``S3_PART_BYTES`` have come (a smaller
    file is one ``PutObject``), completed on commit, aborted on failure."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self.pending = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            method = getattr(self.store.client(), operation)
            return method(Bucket=self.store.bucket, Key=self.key, **params)
        except Exception as exc:
            raise FileStoreError(f"the file store refused the upload ({_reason(exc)})") from None

    def write(self, data: bytes | bytearray) -> None:
        self.pending += data
        while len(self.pending) >= S3_PART_BYTES:
            self._send_part(bytes(self.pending[:S3_PART_BYTES]))
            del self.pending[:S3_PART_BYTES]

    def _send_part(self, body: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = self._call("create_multipart_upload")["UploadId"]
        number = len(self.parts) + 1
        sent = self._call("upload_part", UploadId=self.upload_id, PartNumber=number, Body=body)
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def commit(self) -> None:
        if self.upload_id is None:
            self._call("put_object", Body=bytes(self.pending))
        else:
            if self.pending or not self.parts:
                self._send_part(bytes(self.pending))
            self._call(
                "complete_multipart_upload",
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )
        self.pending = bytearray()

    def abort(self) -> None:
        self.pending = bytearray()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            # if this fails too, the parts go when the bucket's lifecycle rule says
            with contextlib.suppress(FileStoreError):
                self._call("abort_multipart_upload", UploadId=upload_id)


def _reason(exc: Exception) -> str:
    """A short, secret-free reason: the S3 error code, or the exception's type."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]


_store: Store | None = None
_store_setting: tuple[str, ...] | None = None


def current() -> Store:
    """The configured store (built once per value of the settings it is made from)."""
    global _store, _store_setting
    setting = settings.SWITCHYARD_FILE_STORE
    made_from = (
        setting,
        str(settings.DATA_DIR),
        settings.SWITCHYARD_FILE_STORE_ENDPOINT,
        settings.SWITCHYARD_FILE_STORE_REGION,
        settings.SWITCHYARD_FILE_STORE_ACCESS_KEY_ID,
    )
    if _store is None or made_from != _store_setting:
        if setting.startswith("s3://"):
            _store = S3Store(setting)
        else:
            _store = LocalStore(Path(setting) if setting else settings.DATA_DIR / "files")
        _store_setting = made_from
    return _store
