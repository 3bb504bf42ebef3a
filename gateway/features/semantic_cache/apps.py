"""The semantic cache as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; it registers its answer cache (``hooks.answer_caches``) and the
pruning of its expired entries (``hooks.pruners``). The feature's modules are imported
inside ``register``: an app config module is loaded before the tables are."""

from __future__ import annotations

from gateway.base import hooks
from gateway.features.semantic_cache import plugin, store
from gateway.web.units import Unit


class SemanticCacheConfig(Unit):
    name = "gateway.features.semantic_cache"
    label = "semantic_cache"
    verbose_name = "Switchyard semantic cache"

    def register(self) -> None:

        hooks.answer_caches.register(plugin.CACHE)
        hooks.pruners.register(store.prune)
