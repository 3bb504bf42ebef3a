"""What the Gemini Interactions feature plugs in (``gateway.base.hooks``), registered
from ``GatewayConfig.ready``; light, as the Responses feature's plugin: each entry loads
the module that does the work on first use.

- the state an Interactions create keeps (``call_states``, the Interactions dialect):
  ``state.begin``, whose turn also detaches a ``background`` create;
- the stored interactions' paths (``api_routes``): ``routes``, matched by ``paths``;
- stored interactions past their retention (``pruners``)."""

from __future__ import annotations

import importlib
from typing import Any

from gateway.base import hooks, lazy_import
from gateway.features.interactions import paths

DIALECT = "gemini_interactions"  # the codec's name (gateway.codecs.gemini_interactions)
PACKAGE = "gateway.features.interactions"


async def open_turn(call: Any, key: Any, body: dict[str, Any]) -> Any:
    """``hooks.call_states``: what an Interactions create keeps (``state.begin``)."""
    state = await lazy_import.loaded(f"{PACKAGE}.state")
    return await state.begin(body, key)


async def stored_interaction(request: hooks.ApiRequest, found: Any) -> Any:
    routes = await lazy_import.loaded(f"{PACKAGE}.routes")
    return await routes.stored_interaction(request, found)


def prune_stored(max_batches: int) -> int:
    """Stored interactions past their retention, imported when a pruning round runs."""
    state = importlib.import_module(f"{PACKAGE}.state")
    deleted: int = state.prune_expired(max_batches)
    return deleted


ROUTE = hooks.ApiRoute(
    "stored interaction",
    paths.stored_interaction,
    stored_interaction,
    DIALECT,
    ("stored_interactions",),
    google_key=True,
)


def register() -> None:
    if DIALECT not in hooks.call_states:  # ready() may run again (tests)
        hooks.call_states.register(DIALECT, open_turn)
    hooks.api_routes.register(ROUTE)
    hooks.pruners.register(prune_stored)
