"""What the Responses feature plugs in (``gateway.base.hooks``), registered from
``GatewayConfig.ready``. Light on purpose: ``ready`` runs in every management command,
so each entry loads the module that does the work when a request (or the worker's
runner, or the journal's pruning) first needs it, in a thread when on the event loop
(``gateway.base.lazy_import``).

- the state a Responses create keeps (``call_states``, the Responses dialect):
  ``state.begin``;
- a create with ``background: true``, queued before the pipeline
  (``deferred_requests``): ``background.submit``;
- the jobs of ``prepare``, ``input_tokens`` and ``compact`` (``endpoint_jobs``):
  ``jobs``;
- the stored responses' and conversations' paths (``api_routes``): ``routes``, matched
  by ``paths``;
- the WebSocket mode on the Responses paths (``api_sockets``): ``socket``;
- the background runner on worker processes (``background_tasks``), started once a
  background response waits: ``background.run_forever``;
- stored and background responses past their retention (``pruners``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from gateway.base import hooks, lazy_import, process_role
from gateway.features.responses import paths
from gateway.models import BackgroundResponse

DIALECT = "responses"  # the Responses API codec's name (gateway.codecs.openai_responses)
CONVERSATION_BODY_LIMIT = 8 * 1024 * 1024  # 20 items a call, each a message or tool output
PACKAGE = "gateway.features.responses"


async def open_turn(call: Any, key: Any, body: dict[str, Any]) -> Any:
    """``hooks.call_states``: what a Responses create keeps (``state.begin``)."""
    state = await lazy_import.loaded(f"{PACKAGE}.state")
    caller = call.caller
    return await state.begin(body, key, caller.responses_memory, caller.background_id)


class Background:
    """``hooks.deferred_requests``: a Responses create with ``background: true``."""

    @staticmethod
    def takes(endpoint: str, raw: bytes) -> bool:
        return endpoint == "chat" and b'"background"' in raw

    @staticmethod
    async def submit(raw: bytes, headers: Mapping[str, str], caller: Any) -> Any:
        background = await lazy_import.loaded(f"{PACKAGE}.background")
        return await background.submit(raw, headers, caller)


class ResponsesJob:
    """The job of one of the Responses API's own endpoints (``hooks.endpoint_jobs``),
    called as its class is."""

    multipart = False

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __call__(self, call: Any, key: Any, body: dict[str, Any], headers: Any) -> Any:
        # loaded on first use (ready runs in every management command); then a lookup
        jobs = importlib.import_module(f"{PACKAGE}.jobs")
        return jobs.JOBS[self.endpoint](call, key, body, headers)

    def __repr__(self) -> str:
        return f"<Responses endpoint {self.endpoint}>"


async def stored_response(request: hooks.ApiRequest, found: Any) -> Any:
    routes = await lazy_import.loaded(f"{PACKAGE}.routes")
    return await routes.stored_response(request, found)


async def conversation(request: hooks.ApiRequest, found: Any) -> Any:
    routes = await lazy_import.loaded(f"{PACKAGE}.routes")
    return await routes.conversation(request, found)


async def socket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    module = await lazy_import.loaded(f"{PACKAGE}.socket")
    await module.app(scope, receive, send)


async def run_background() -> None:
    """The background Responses runner, imported when a serving process starts it."""
    background = await lazy_import.loaded(f"{PACKAGE}.background")
    await background.run_forever()


def prune_stored(max_batches: int) -> int:
    """Stored Responses past their retention, imported when a pruning round runs."""
    state = importlib.import_module(f"{PACKAGE}.state")
    deleted: int = state.prune_expired(max_batches)
    return deleted


def prune_background(max_batches: int) -> int:
    """Finished background Responses past the same retention."""
    background = importlib.import_module(f"{PACKAGE}.background")
    deleted: int = background.prune_expired(max_batches)
    return deleted


ROUTES = (
    hooks.ApiRoute(
        "stored response", paths.stored_response, stored_response, DIALECT, ("stored_responses",)
    ),
    hooks.ApiRoute(
        "conversations",
        paths.conversations,
        conversation,
        "openai",  # OpenAI's envelope, as the Conversations API answers
        ("conversations",),
        body_limit=CONVERSATION_BODY_LIMIT,
    ),
)
# a Responses WebSocket turn is a chat (or, with ``generate: false``, a stored one)
SOCKET = hooks.ApiSocket(paths.RESPONSES_PATHS, socket, ("chat", "prepare"))
RUNNER = hooks.BackgroundTask(
    "background-responses", run_background, process_role.WORKER, jobs=(BackgroundResponse,)
)


def register() -> None:
    if DIALECT not in hooks.call_states:  # ready() may run again (tests)
        hooks.call_states.register(DIALECT, open_turn)
        hooks.deferred_requests.register(DIALECT, Background())
    for endpoint in ("prepare", "input_tokens", "compact"):
        if endpoint not in hooks.endpoint_jobs:
            hooks.endpoint_jobs.register(endpoint, ResponsesJob(endpoint))
    for route in ROUTES:
        hooks.api_routes.register(route)
    hooks.api_sockets.register(SOCKET)
    hooks.background_tasks.register(RUNNER)
    hooks.pruners.register(prune_stored)
    hooks.pruners.register(prune_background)
