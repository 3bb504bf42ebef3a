"""The prompt's size for the context-window check, once per request before routing.

The chars/4 estimate (``tokens.estimate_tokens``) is free but can be off by a factor
(code, non-Latin scripts); the tokenizer's count (``tokens.count_request_tokens``,
memoised per text, the supervisor's tokenizer for ``serve --workers N``) is exact for
OpenAI models and close for others. ``prompt_tokens`` uses the count only when the
prompt could be near the smallest window of the routes it may reach
(``routing.context_windows``), so the usual short prompt costs nothing more.

It is the pipeline's (it runs the tokenizer, ``core.tokens``); the windows and the
error it leads to are routing's, in ``gateway.routing.context_windows``.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.base.entries import RouteEntry, Snapshot
from gateway.base.types import ChatRequest
from gateway.core import tokens
from gateway.routing.context_windows import smallest_reachable_window

log = logging.getLogger(__name__)

# One token is rarely shorter than one character (cl100k: ~4 characters a token in
# English, ~1 in CJK): a prompt whose estimate times this stays under every window
# fits whatever the script, and is not counted.
CHARS_PER_TOKEN_BOUND = 4


async def prompt_tokens(
    request: ChatRequest, estimate: int, snapshot: Snapshot, route: RouteEntry
) -> int:
    """The prompt's tokens for the context-window check: what the request already
    carries, else the estimate when it surely fits every window ``route`` may reach,
    else the tokenizer's count."""
    if request.prompt_tokens:
        return request.prompt_tokens
    smallest = smallest_reachable_window(snapshot, route)
    if smallest is None or estimate * CHARS_PER_TOKEN_BOUND <= smallest:
        return estimate
    try:  # a long prompt: a thread (the tokenizer releases the GIL), loading it once
        return await asyncio.to_thread(tokens.count_request_tokens, request)
    except Exception:
        log.warning("counting the prompt's tokens failed; using the estimate", exc_info=True)
        return estimate
