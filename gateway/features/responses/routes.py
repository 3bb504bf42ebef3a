"""The Responses API's stored objects on the API, as routes the edge serves
(``hooks.api_routes``, registered by this feature's plugin; which requests are theirs:
``paths``). The edge resolves the caller's key, reads a POST's body and writes the
answer or the error; each function here takes the request as read and answers a JSON
payload, a ``Reply`` or a ``StreamReply``, or raises a ``GatewayError``.

Only the key that created a response or a conversation sees it: anyone else gets the
404 an unknown id gets."""

from __future__ import annotations

import contextlib
from typing import Any

from gateway.base import db_work
from gateway.base.errors import ModelNotFound
from gateway.base.hooks import ApiRequest
from gateway.core.call import Reply, StreamReply
from gateway.features.responses import background, conversations, state

EVENT_STREAM = [(b"content-type", b"text/event-stream")]


def _unknown(request: ApiRequest) -> ModelNotFound:
    return ModelNotFound(f"no such endpoint: {request.method} {request.path}", code="unknown_url")


def _after(text: str) -> int | None:
    return int(text) if text.isdigit() else None


async def stored_response(request: ApiRequest, found: tuple[str, str]) -> Any:
    """``GET /v1/responses/{id}`` (``?stream=true&starting_after=N`` replays its events),
    ``GET .../{id}/input_items``, ``DELETE .../{id}``, ``POST .../{id}/cancel``. A
    background response is read from its own row while it runs, and followed live."""
    response_id, what = found
    method, key, query = request.method, request.key, request.query
    if what == "input_items" and method == "GET":
        return await state.input_items(response_id, key, dict(query))
    if what == "cancel" and method == "POST":
        return await background.cancel(response_id, key)
    if what == "" and method == "GET":
        streamed = query.get("stream") == "true"
        after = _after(query.get("starting_after", ""))
        running = await background.retrieve(response_id, key)
        if running is not None and streamed:
            return StreamReply(200, list(EVENT_STREAM), background.follow(response_id, key, after))
        if running is not None:
            return running
        payload = await state.retrieve(response_id, key)
        if streamed:
            return Reply(200, state.replay_events(payload, after), list(EVENT_STREAM))
        return payload
    if what == "" and method == "DELETE":
        if not await background.delete(response_id, key):
            return await state.delete(response_id, key)
        with contextlib.suppress(ModelNotFound):  # its stored turn, if it ran
            await state.delete(response_id, key)
        return {"id": response_id, "object": "response", "deleted": True}
    raise _unknown(request)


async def conversation(request: ApiRequest, found: tuple[str, str, str]) -> Any:
    """``/v1/conversations[/{id}[/items[/{item_id}]]]`` (OpenAI's Conversations API):
    create, retrieve, update, delete; list, add, retrieve and delete items."""
    conversation_id, part, item = found
    key, body, query = request.key, request.body, dict(request.query)
    action: tuple[Any, ...] | None = {
        ("POST", False, "", False): (conversations.create, key, body),
        ("GET", True, "", False): (conversations.retrieve, conversation_id, key),
        ("POST", True, "", False): (conversations.update, conversation_id, key, body),
        ("DELETE", True, "", False): (conversations.delete, conversation_id, key),
        ("GET", True, "items", False): (conversations.list_items, conversation_id, key, query),
        ("POST", True, "items", False): (conversations.add_items, conversation_id, key, body),
        ("GET", True, "items", True): (conversations.get_item, conversation_id, item, key),
        ("DELETE", True, "items", True): (conversations.delete_item, conversation_id, item, key),
    }.get((request.method, bool(conversation_id), part, bool(item)))
    if action is None:
        raise _unknown(request)
    return await db_work.arun(*action)
