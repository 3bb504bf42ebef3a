"""What a route's semantic cache settings must satisfy when saved (``route_problems``,
asked by ``gateway.ops.admin_ops.save_route`` for the console, ``/api`` and imports):
the embedding route exists, is not a pattern, and is an embedding route (one of its
enabled deployments serves embeddings: its params' ``mode``, the catalog's, or its
model's name say so); the client APIs named are ones the gateway speaks. Refused when
saved, naming the field, never at call time."""

from __future__ import annotations

import re
from typing import Any

_EMBEDDING_NAME = re.compile(r"embed", re.IGNORECASE)


def serves_embeddings(deployment: Any) -> bool:
    """Whether a Deployment row serves embeddings."""
    from gateway.catalog import media

    params = deployment.params if isinstance(deployment.params, dict) else {}
    try:
        entry = deployment.catalog_entry()
    except Exception:  # a catalog that cannot place it: the params and the name decide
        entry = None
    mode = media.mode_of(deployment.model, params, None if entry is None else entry.mode)
    if mode == "embedding":
        return True
    declared = params.get("mode")
    return not declared and mode == "chat" and bool(_EMBEDDING_NAME.search(deployment.model))


def route_problems(route: Any) -> dict[str, str]:
    """Field -> why, for a Route row about to be saved (empty: none)."""
    from gateway.codecs import clients
    from gateway.models import Route

    problems: dict[str, str] = {}
    dialects = route.semantic_cache_dialects
    if isinstance(dialects, list):
        unknown = sorted({str(d) for d in dialects} - set(clients()))
        if unknown:
            known = ", ".join(clients())
            problems["semantic_cache_dialects"] = (
                f"unknown client API(s): {', '.join(unknown)} (one of {known})"
            )
    name = route.semantic_cache_route
    if not name:
        return problems
    if any(ch in name for ch in "*?["):
        problems["semantic_cache_route"] = "name a route, not a pattern"
        return problems
    target = Route.objects.filter(name=name).first()
    if target is None:
        problems["semantic_cache_route"] = f"unknown route {name!r}"
        return problems
    deployments = [d for d in target.deployments.select_related("provider") if d.enabled]
    if not any(serves_embeddings(d) for d in deployments):
        problems["semantic_cache_route"] = (
            f"route {name!r} is not an embedding route: none of its enabled deployments "
            'serves embeddings (set {"mode": "embedding"} in a deployment\'s params when '
            "its model's name does not say)"
        )
    return problems
