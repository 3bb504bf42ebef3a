"""A batch line across wire formats, for native batches whose upstream speaks another
format than the batch (an OpenAI chat batch sent to Gemini's batch mode or to Bedrock
batch inference, a Message Batch sent to OpenAI's Batch API).

The same codecs as a live request do it: the batch's format (its endpoint's client
codec) parses the line into a canonical ``ChatRequest``, the deployment's upstream
codec writes it; the upstream's answer is parsed by the upstream codec and rendered by
the client codec. When both are the same codec the line passes as it is, with the
deployment's model and the route's defaults (``upstream_body``)."""

from __future__ import annotations

from typing import Any

from gateway.access import registry
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import GatewayError, InvalidRequest
from gateway.base.types import ChatRequest, Usage
from gateway.codecs import CODECS
from gateway.codecs.base import Codec
from gateway.core import media_inline
from gateway.providers.base import adapter_for

# The batch endpoints whose lines are chat requests, and the codec their lines speak.
CHAT_ENDPOINTS = {
    "/v1/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/v1/responses": "responses",
}


def client_codec(endpoint: str) -> Codec | None:
    """The codec a batch's lines speak (None: not a chat endpoint, such as embeddings)."""
    name = CHAT_ENDPOINTS.get(endpoint)
    return CODECS[name] if name else None


def translates(endpoint: str, wire: str) -> bool:
    """Whether lines of ``endpoint`` can go to an upstream in the ``wire`` codec (the
    format its batch API takes): same format, or both ends chat codecs."""
    if CHAT_ENDPOINTS.get(endpoint) == wire:
        return True
    ours = client_codec(endpoint)
    theirs = CODECS.get(wire)
    return ours is not None and theirs is not None and theirs.upstream is not None


def upstream_body(body: dict[str, Any], deployment: DeploymentEntry) -> dict[str, Any]:
    """A same-format line as the upstream gets it: the route's default parameters under
    the caller's, the model the deployment's."""
    route = registry.current().routes.get(deployment.route)
    defaults = route.default_params if route is not None else {}
    return {**defaults, **body, "model": deployment.model}


def upstream_request(
    endpoint: str, body: dict[str, Any], deployment: DeploymentEntry, wire: str
) -> dict[str, Any]:
    """The line's request body in the ``wire`` codec for ``deployment``. Raises
    ``InvalidRequest`` (naming the field) for what the line's format or the upstream's
    cannot carry."""
    if CHAT_ENDPOINTS.get(endpoint) == wire:
        return upstream_body(body, deployment)
    return built_line(parsed_line(endpoint, body, deployment, wire), deployment, wire)


def parsed_line(
    endpoint: str, body: dict[str, Any], deployment: DeploymentEntry, wire: str
) -> ChatRequest:
    """The line as a canonical request for a ``wire`` upstream of another format (the
    first half of ``upstream_request``). Raises ``InvalidRequest`` as it does."""
    ours, theirs = client_codec(endpoint), CODECS.get(wire)
    if ours is None or ours.client is None or theirs is None or theirs.upstream is None:
        raise InvalidRequest(f"lines of {endpoint} cannot be sent as {wire} requests")
    if body.get("previous_response_id"):  # the service resolves it; an upstream batch cannot
        raise InvalidRequest(
            "previous_response_id is not supported in a batch run by the upstream's batch API",
            param="previous_response_id",
        )
    request = ours.client.parse_request(upstream_body(body, deployment), {})
    request.stream = False
    return request


def built_line(request: ChatRequest, deployment: DeploymentEntry, wire: str) -> dict[str, Any]:
    """A canonical line written by the ``wire`` codec for ``deployment`` (the second
    half of ``upstream_request``)."""
    upstream = CODECS[wire].upstream
    assert upstream is not None
    adapter: Any = adapter_for(deployment.provider)  # a CodecProvider: it has target()
    return upstream.build_request(request, adapter.target(deployment))


async def with_media_fetched(request: ChatRequest, wire: str) -> ChatRequest:
    """``request`` with the image and document URLs the ``wire`` codec cannot take by
    URL fetched and given as bytes, as a live request's are (``gateway.core.media_inline``,
    with its checks; a refused fetch raises ``InvalidRequest`` naming the host): an
    upstream batch API reads no URL either."""
    return await media_inline.inline(request, CODECS[wire].media_urls)


def client_answer(
    endpoint: str, body: dict[str, Any], answer: Any, deployment: DeploymentEntry, wire: str
) -> tuple[Any, Usage]:
    """An upstream's answer (in the ``wire`` codec) to the line ``body``, as the
    batch's format renders it, and its usage."""
    ours, theirs = client_codec(endpoint), CODECS[wire]
    if CHAT_ENDPOINTS.get(endpoint) == wire:
        assert theirs.upstream is not None
        return answer, theirs.upstream.parse_response(answer).usage
    assert ours is not None and ours.client is not None and theirs.upstream is not None
    request = ours.client.parse_request(upstream_body(body, deployment), {})
    request.stream = False
    response = theirs.upstream.parse_response(answer)
    request.model = str(body.get("model") or request.model)  # the name the caller used
    return ours.client.render_response(response, request), response.usage


def client_error(endpoint: str, error: GatewayError) -> Any:
    """A line's error as the batch's format renders an error body (what a live request
    of that format would have been answered); a plain OpenAI-style error otherwise."""
    ours = client_codec(endpoint)
    if ours is not None and ours.client is not None:
        return ours.client.render_error(error)
    return {"error": {"message": error.message, "type": error.kind, "code": None}}


__all__ = [
    "CHAT_ENDPOINTS",
    "client_answer",
    "client_error",
    "client_codec",
    "translates",
    "upstream_request",
]
