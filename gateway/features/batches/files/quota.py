"""Each key's storage quota on ``/v1/files`` (``SWITCHYARD_FILES_QUOTA_BYTES``; 0: none;
the master key has none): what its files not yet expired take may not pass it.

Checked three times, so a key never stores more than its quota: when an upload starts
(a key already at its quota is refused before its body is read), while it streams (the
upload stops where it would pass what was left, ``gateway.edge.upload_stream``) and when
its row is created (``api.record``), which sees uploads of the same key that finished
meanwhile (on PostgreSQL it waits for them: the key's row is locked). A refusal is a 413
(``storage_quota_exceeded``) and leaves nothing in the store.

413 rather than 429: the quota does not clear with time (OpenAI's SDKs retry a 429 on
their own, in vain), and the content is larger than what the key may still store; the
OpenAI envelope's type is ``invalid_request_error``, as for any file too large."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum

from gateway.base.entries import KeyEntry
from gateway.base.errors import RequestTooLarge
from gateway.models import ApiKey
from gateway.models.files import StoredFile


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int  # bytes
    used: int  # by the key's files not yet expired

    @property
    def room(self) -> int:
        return max(0, self.limit - self.used)

    def exceeded(self) -> RequestTooLarge:
        return RequestTooLarge(
            f"this API key's file storage quota of {self.limit} bytes would be exceeded "
            f"({self.used} bytes are in its files, {self.room} left); delete files it no "
            "longer needs (DELETE /v1/files/{file_id}) to upload more",
            param="file",
            code="storage_quota_exceeded",
        )


def of(key: KeyEntry) -> Quota | None:
    """``key``'s quota and what its files use now; None when it has no quota.
    Blocking (one query)."""
    limit = settings.SWITCHYARD_FILES_QUOTA_BYTES
    if limit <= 0 or key.is_master:
        return None
    from django.db.models import Q
    from django.utils import timezone

    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())  # as api.visible
    rows = StoredFile.objects.filter(live, key_id=key.id)
    used = rows.aggregate(total=Sum("bytes"))["total"] or 0
    return Quota(limit, int(used))


def check_start(key: KeyEntry) -> Quota | None:
    """The quota an upload of ``key`` streams under; the refusal when nothing is left."""
    quota = of(key)
    if quota is not None and quota.room <= 0:
        raise quota.exceeded()
    return quota


def check_stored(key: KeyEntry, size: int) -> None:
    """Refuse a file of ``size`` bytes that no longer fits (another upload of the key
    finished meanwhile). Call inside the transaction that creates its row."""
    if settings.SWITCHYARD_FILES_QUOTA_BYTES <= 0 or key.is_master:
        return

    list(ApiKey.objects.select_for_update().filter(pk=key.id).values_list("pk", flat=True))
    quota = of(key)
    if quota is not None and size > quota.room:
        raise quota.exceeded()
