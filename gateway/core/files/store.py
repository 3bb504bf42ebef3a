"""Where files' bytes live: a local directory (the default, ``<data dir>/files``) or
S3-compatible storage through botocore (``SWITCHYARD_FILE_STORE=s3://bucket/prefix``).

Blocking calls: callers on the event loop run them in a thread. A local write goes to
a temporary file in the same directory and is renamed into place, so a reader never
sees half a file; an S3 ``PutObject`` is atomic by itself."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from django.conf import settings

from gateway.errors import ConfigurationError, GatewayError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FileStoreError(GatewayError):
    """The store could not be read or written (the message names no credentials)."""

    status = 500
    kind = "api_error"


class Store(Protocol):
    def put(self, name: str, source: IO[bytes]) -> None: ...
    def read(self, name: str) -> bytes: ...
    def delete(self, name: str) -> None: ...
    def describe(self) -> str: ...


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
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.folder / _checked(name)
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with _quiet():
                os.unlink(temporary)
            raise

    def read(self, name: str) -> bytes:
        try:
            return (self.folder / _checked(name)).read_bytes()
        except FileNotFoundError:
            raise FileStoreError(f"the content of file {name} is missing from the store") from None

    def delete(self, name: str) -> None:
        with _quiet():
            (self.folder / _checked(name)).unlink()


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
_store_setting: str | None = None


def current() -> Store:
    """The configured store (built once per setting value)."""
    global _store, _store_setting
    setting = settings.SWITCHYARD_FILE_STORE
    if _store is None or setting != _store_setting:
        if setting.startswith("s3://"):
            _store = S3Store(setting)
        else:
            _store = LocalStore(Path(setting) if setting else settings.DATA_DIR / "files")
        _store_setting = setting
    return _store
