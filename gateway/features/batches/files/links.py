"""Files the gateway keeps so an answer can link to them: an image asked for with
``response_format: "url"`` from a model that answers bytes (a Gemini image model).

``keep`` writes the bytes to the file store (``store``: local or S3, shared by every
instance when S3) under a new file id owned by the key, with a ``StoredFile`` row of
purpose ``image_output`` that expires after ``LINK_SECONDS`` (an hour, as OpenAI's image
URLs do), and answers an absolute URL on the gateway signed for that key
(``gateway.access.rules.files``). ``open_link`` serves it: the decision is the rule
``file.link.read``; a refused, expired or unknown link is the same 404. Expired rows and
their bytes go with the files pruner (``prune_expired``), as any expired file's do.
Blocking (ORM and store): callers on the event loop run these in a thread."""

from __future__ import annotations

import io
import secrets
import time
from datetime import timedelta

from django.utils import timezone

from gateway.access import authorization
from gateway.access.rules import files as file_rules
from gateway.base.entries import KeyEntry
from gateway.base.errors import ModelNotFound
from gateway.features.batches.files import store
from gateway.models.files import StoredFile

LINK_SECONDS = 3600
PURPOSE = "image_output"
PATH = "/v1/images/files/"
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}
MEDIA_TYPES = {ext: media for media, ext in EXTENSIONS.items()}


def keep(key: KeyEntry, media_type: str, data: bytes, base_url: str) -> str:
    """Keep ``data`` for ``key`` and answer the signed URL that serves it."""
    file_id = "file-" + secrets.token_hex(12)
    ext = EXTENSIONS.get(media_type, "png")
    store.current().put(file_id, io.BytesIO(data))
    now = timezone.now()
    StoredFile.objects.create(
        id=file_id,
        purpose=PURPOSE,
        filename=f"image.{ext}",
        bytes=len(data),
        key_id=key.id,
        created_at=now,
        expires_at=now + timedelta(seconds=LINK_SECONDS),
    )
    expires = int(time.time()) + LINK_SECONDS
    owner = file_rules.key_field(key.id)
    signature = file_rules.signature(file_id, owner, expires)
    return (
        f"{base_url.rstrip('/')}{PATH}{file_id}?key={owner}&expires={expires}&signature={signature}"
    )


def open_link(file_id: str, query: dict[str, str]) -> tuple[bytes, str]:
    """The bytes and media type a link names, or ``ModelNotFound`` (one 404 for a bad
    signature, an expired link, another key's file or none)."""
    link = file_rules.SignedLink.from_query(file_id, query)
    row = (
        StoredFile.objects.filter(id=file_id, purpose=PURPOSE).first()
        if file_id.startswith("file-")
        else None
    )
    if row is not None and row.expires_at is not None and row.expires_at <= timezone.now():
        row = None
    decision = authorization.decide(link, "file.link.read", row)
    if not decision.allowed or row is None:
        raise ModelNotFound(f"No such file: {file_id} ({decision.reason or 'not found'})")
    media_type = MEDIA_TYPES.get(row.filename.rsplit(".", 1)[-1], "application/octet-stream")
    return store.current().read(file_id), media_type
