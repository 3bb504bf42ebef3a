"""Files kept so an answer can link to them (``gateway.features.batches.files.links``):
the bytes stored for the key under a row that expires in an hour, a URL on the gateway
signed for that key, and the link opened with its media type; a changed signature, an
expired row or another key's file is the same 404."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from gateway.base.entries import MASTER
from gateway.base.errors import ModelNotFound
from gateway.features.batches.files import links
from gateway.models.files import StoredFile


@pytest.fixture
def files(settings: Any, tmp_path: Path, db: None) -> Path:
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    return tmp_path / "files"


def _kept(media_type: str = "image/jpeg") -> tuple[str, dict[str, str]]:
    url = links.keep(MASTER, media_type, b"\xff\xd8jpeg", "https://gw.example/")
    parts = urlsplit(url)
    assert url.startswith("https://gw.example/v1/images/files/file-")
    return parts.path.rsplit("/", 1)[-1], dict(parse_qsl(parts.query))


def test_a_kept_image_opens_from_its_link(files: Path) -> None:
    file_id, query = _kept()
    assert set(query) == {"key", "expires", "signature"} and query["key"] == "master"
    row = StoredFile.objects.get(id=file_id)
    assert row.purpose == links.PURPOSE and row.filename == "image.jpeg" and row.bytes == 6
    assert row.expires_at is not None
    assert row.expires_at - row.created_at == timedelta(seconds=links.LINK_SECONDS)
    assert links.open_link(file_id, query) == (b"\xff\xd8jpeg", "image/jpeg")
    assert (files / file_id).exists()


def test_an_unknown_type_is_kept_as_png(files: Path) -> None:
    file_id, query = _kept("image/x-bmp")
    assert links.open_link(file_id, query)[1] == "image/png"


def test_a_bad_expired_or_foreign_link_is_not_found(files: Path) -> None:
    file_id, query = _kept()
    with pytest.raises(ModelNotFound):
        links.open_link(file_id, {**query, "signature": "0" * 64})
    with pytest.raises(ModelNotFound):
        links.open_link("not-a-file", query)
    StoredFile.objects.filter(id=file_id).update(key_id=42)  # another key's file
    with pytest.raises(ModelNotFound):
        links.open_link(file_id, query)
    StoredFile.objects.filter(id=file_id).update(
        key_id=None, expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ModelNotFound):
        links.open_link(file_id, query)
