"""The semantic cache's entries (``gateway.models.semantic_cache``): an entry reads as its
route, scope and row."""

from __future__ import annotations

import pytest
from django.utils import timezone

from gateway.models.semantic_cache import SemanticCacheEntry


@pytest.mark.django_db
def test_an_entry_reads_as_its_route_scope_and_row() -> None:
    now = timezone.now()
    row = SemanticCacheEntry.objects.create(
        route="chat", scope="key:3", vector=b"\0" * 8, dims=2, text_hash="h", answer=b"{}",
        created_at=now, expires_at=now,
    )  # fmt: skip
    assert str(row) == f"chat key:3 #{row.pk}"
    assert bytes(SemanticCacheEntry.objects.get(pk=row.pk).vector) == b"\0" * 8
