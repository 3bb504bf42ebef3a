"""The embedding of a request's text, asked of one of the gateway's own embedding routes
through the pipeline (``gateway.core.service.handle``, the OpenAI embeddings endpoint),
as the judge guardrail asks its route: the call is the caller's key's own request, with
its own journal row (user agent ``switchyard-semantic-cache``), counted against the
key's rate limits and charged to its budget like any embedding call; a key limited to
some routes may use the embedding route for this call only. A refusal (the key's
limits, the route's teams) or a failure is logged and answers None: a miss."""

from __future__ import annotations

import logging

import orjson

from gateway.base.entries import KeyEntry, charged_key

log = logging.getLogger(__name__)

USER_AGENT = "switchyard-semantic-cache"


async def embed(route: str, text: str, key: KeyEntry) -> list[float] | None:
    """The embedding of ``text`` by ``route``, or None (logged) when it could not be had."""
    # the request stack, imported on first use: a process that registers the unit (a
    # management command) never loads it
    from gateway.core import service

    raw = orjson.dumps({"model": route, "input": text, "encoding_format": "float"})
    caller = service.Caller(key=charged_key(key, route), user_agent=USER_AGENT)
    reply = await service.handle("embeddings", "openai", raw, {}, caller)
    if not isinstance(reply, service.Reply):  # asked for a whole answer
        await service.close_quietly(reply.chunks)
        log.warning("semantic cache: the embedding route %r answered a stream", route)
        return None
    if reply.status != 200:
        log.warning(
            "semantic cache: the embedding route %r answered %d; a miss", route, reply.status
        )
        return None
    try:
        vector = orjson.loads(reply.body)["data"][0]["embedding"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        log.warning("semantic cache: the embedding route %r answered no embedding", route)
        return None
    if not isinstance(vector, list) or not vector:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
        return None
    return [float(v) for v in vector]
