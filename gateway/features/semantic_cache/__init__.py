"""The semantic cache (issue #65): a chat request similar enough to an earlier one on the
same route, in the same scope, is answered with the earlier answer, replayed in the
caller's dialect (streamed or not) by the exact cache's replay. A unit
(``gateway.web.units``), plugged into the request path through ``hooks.answer_caches``
(``plugin``), which the pipeline asks after the exact cache missed.

- ``text``: what is embedded: the request's system prompt and conversation, normalized;
  a request it cannot judge safely (tools, tool calls and results, images, documents,
  structured output, several choices) is neither looked up nor kept;
- ``embed``: the embedding, by one of the gateway's own embedding routes through the
  pipeline, charged to the caller's key like any request (its own journal row);
- ``index``: each process's in-memory nearest-neighbour index per (route, scope),
  loaded from the store in the background and refreshed, bounded in size;
- ``store``: the ``SemanticCacheEntry`` rows every instance shares, their pruning;
- ``announce``: with ``REDIS_URL``, new entries told to every process at once;
- ``checks``: what a route's settings must satisfy when saved (``route_problems``).

Never across keys or teams that may not see each other's answers: the scope is the key
(default), the key's team, or the route (every key allowed on it). Failures of the cache
itself (the embedding route refusing or failing, the store away) are misses, never the
request's error."""

from __future__ import annotations

from gateway.features.semantic_cache.checks import route_problems

__all__ = ["route_problems"]
