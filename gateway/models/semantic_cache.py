"""The semantic cache's entries (``gateway.features.semantic_cache``): one row per answer
kept, under its route and scope (a key, a team, or the whole route), with the embedding
of the request it answered as float32 bytes (``dims`` of them) and the answer as the
exact cache encodes it. Every instance reads the rows of a (route, scope) it serves into
its own in-memory index and adds the rows it writes; expired rows are never served and
are deleted by the journal's pruning round."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class SemanticCacheEntry(models.Model):
    route = models.CharField(max_length=200)
    scope = models.CharField(max_length=40, help_text="key:<id>, team:<id> or route")
    vector = models.BinaryField(help_text="the request's embedding, float32 little-endian")
    dims = models.PositiveIntegerField()
    text_hash = models.CharField(max_length=64, help_text="sha256 of the text embedded")
    answer = models.BinaryField(help_text="the canonical answer (gateway.core.cache.codec)")
    cost_usd = models.DecimalField(
        max_digits=14, decimal_places=8, default=Decimal("0"),
        help_text="what the answer cost upstream: what each hit saves",
    )  # fmt: skip
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["route", "scope", "id"], name="semantic_cache_scope"),
            models.Index(fields=["expires_at"], name="semantic_cache_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.route} {self.scope} #{self.pk}"
