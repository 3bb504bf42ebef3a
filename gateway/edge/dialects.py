"""The endpoint table: which wire format (a ``gateway.codecs.CODECS`` name) each API
path speaks. The client halves themselves live in ``CODECS``: a new client dialect is
its codec package (with a client half) plus its lines here; the service and the
endpoints look codecs up by name and read what differs from them, never branching on
the name."""

from __future__ import annotations

from typing import Any

from gateway.codecs import CODECS
from gateway.codecs.base import Codec, Dialect, Target
from gateway.types import ChatRequest

# The codec of a request that names none (an unknown name, the playground's default).
DEFAULT: Codec = CODECS["openai"]


def clients() -> dict[str, Dialect]:
    """Every codec with a client half, by name, in the console's order."""
    return {name: c.client for name, c in CODECS.items() if c.client is not None}


# POST path -> (endpoint, dialect)
POST_ROUTES: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("chat", "openai"),
    "/chat/completions": ("chat", "openai"),
    "/openai/v1/chat/completions": ("chat", "openai"),
    "/v1/responses": ("chat", "responses"),
    "/responses": ("chat", "responses"),
    "/openai/v1/responses": ("chat", "responses"),
    "/v1/responses/compact": ("compact", "responses"),
    "/responses/compact": ("compact", "responses"),
    "/openai/v1/responses/compact": ("compact", "responses"),
    "/v1/messages": ("chat", "anthropic"),
    "/anthropic/v1/messages": ("chat", "anthropic"),
    "/v1/messages/count_tokens": ("count_tokens", "anthropic"),
    "/anthropic/v1/messages/count_tokens": ("count_tokens", "anthropic"),
    "/v1/embeddings": ("embeddings", "openai"),
    "/embeddings": ("embeddings", "openai"),
    "/openai/v1/embeddings": ("embeddings", "openai"),
    "/v1/completions": ("completions", "openai"),
    "/completions": ("completions", "openai"),
    "/openai/v1/completions": ("completions", "openai"),
    "/v1/rerank": ("rerank", "openai"),
    "/rerank": ("rerank", "openai"),
    "/v2/rerank": ("rerank", "openai"),  # Cohere's path (its SDK's base URL is the host)
    "/openai/v1/rerank": ("rerank", "openai"),
}
# OpenAI's media endpoints (gateway.core.media): images and audio, under each prefix.
for _prefix in ("/v1", "", "/openai/v1"):
    POST_ROUTES[f"{_prefix}/images/generations"] = ("image_generation", "openai")
    POST_ROUTES[f"{_prefix}/images/edits"] = ("image_edit", "openai")
    POST_ROUTES[f"{_prefix}/audio/transcriptions"] = ("transcription", "openai")
    POST_ROUTES[f"{_prefix}/audio/translations"] = ("translation", "openai")
    POST_ROUTES[f"{_prefix}/audio/speech"] = ("speech", "openai")
# Gemini API: POST {prefix}/{model}:{method}, the model named in the path.
GEMINI = "gemini"
GEMINI_METHODS: dict[str, tuple[str, bool]] = {  # method -> (endpoint, stream)
    "generateContent": ("chat", False),
    "streamGenerateContent": ("chat", True),
    "countTokens": ("count_tokens", False),
}


def codec(dialect: str) -> Codec:
    """The codec clients of ``dialect`` speak (OpenAI chat for a name no codec with a
    client half has)."""
    found = CODECS.get(dialect)
    return found if found is not None and found.has_client else DEFAULT


def client(dialect: str) -> Dialect:
    """The client half of ``dialect``'s codec (OpenAI chat for a name no table knows).
    On the request path: two lookups, the half loaded once."""
    found = CODECS.get(dialect)
    half = found.client if found is not None else None
    if half is None:
        half = DEFAULT.client
        assert half is not None  # the OpenAI codec has a client half
    return half


# What a client may ask of the model it names: everything, the gateway's routing and the
# upstream's codec fit it to the deployment that answers.
CLIENT_TARGET_CAPS = {"supports_reasoning": True, "supports_tools": True, "supports_vision": True}


def request_body(dialect: str, request: ChatRequest) -> dict[str, Any]:
    """The body a client speaking ``dialect`` sends for ``request`` (the playground's
    columns, a replay): written by the codec of that wire format, the same writer the
    gateway uses towards an upstream that speaks it, so no caller writes a dialect's
    JSON by hand. ``request.model`` is the route named; ``request.stream`` picks the
    stream variant."""
    found = CODECS.get(dialect)
    if found is None or found.upstream is None:
        raise ValueError(f"no codec writes {dialect!r} requests")
    return found.upstream.build_request(request, Target(model=request.model, **CLIENT_TARGET_CAPS))
