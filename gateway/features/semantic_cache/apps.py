"""The semantic cache as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; ``Unit.register`` calls its ``plugin.register()``, which registers its
answer cache (``hooks.answer_caches``) and the pruning of its expired entries
(``hooks.pruners``)."""

from __future__ import annotations

from gateway.web.units import Unit


class SemanticCacheConfig(Unit):
    name = "gateway.features.semantic_cache"
    label = "semantic_cache"
    verbose_name = "Switchyard semantic cache"
