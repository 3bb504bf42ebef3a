"""Stored interactions on the API, as a route the edge serves (``hooks.api_routes``,
registered by this feature's plugin; which requests are its: ``paths``). The edge
resolves the caller's key (the Google way too) and writes the answer or the error in
Google's envelope; only the key that created an interaction sees it (anyone else gets
the 404 an unknown id gets)."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import ModelNotFound
from gateway.base.hooks import ApiRequest
from gateway.core.call import Reply
from gateway.features.interactions import state


async def stored_interaction(request: ApiRequest, found: tuple[str, str]) -> Any:
    """``GET /v1beta/interactions/{id}`` (``?stream=true&last_event_id=`` replays its
    stream), ``DELETE`` it, ``POST .../{id}/cancel``."""
    interaction_id, what = found
    method, key, query = request.method, request.key, request.query
    if what == "" and method == "GET" and query.get("stream") == "true":
        events = await state.stream(interaction_id, key, query.get("last_event_id") or None)
        return Reply(200, events, [(b"content-type", b"text/event-stream")])
    if what == "" and method == "GET":
        return await state.retrieve(interaction_id, key)
    if what == "" and method == "DELETE":
        return await state.delete(interaction_id, key)
    if what == "cancel" and method == "POST":
        return await state.cancel(interaction_id, key)
    raise ModelNotFound(f"no such endpoint: {method} {request.path}", code="not_found")
