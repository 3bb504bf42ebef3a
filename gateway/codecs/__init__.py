"""Wire formats, one package each, owning both directions (see ``base``), the one
registry of them and the lookups on it: ``CODECS`` maps each format's one name to its
``Codec``; ``codec()``, ``client()`` and ``clients()`` find the codec a client dialect
speaks, ``request_body()`` writes a client's body in one.

A new wire format is its package (whose ``__init__`` builds a ``CODEC``) plus its line
below; the endpoint table (``gateway.edge.dialects``), the providers (``speaks``), the journal
and the console all name formats by these keys. The lookups sit here, at the bottom of
the layers, so the pipeline, the console and the process's warm-up find a codec by name
without importing the edge."""

from __future__ import annotations

from typing import Any, TypedDict

from gateway.base.types import ChatRequest
from gateway.codecs import (
    anthropic,
    bedrock,
    cohere,
    gemini,
    gemini_interactions,
    openai_chat,
    openai_responses,
)
from gateway.codecs.base import Codec, Dialect, Target, register

CODECS: dict[str, Codec] = {}


def _register_all() -> None:
    # In the console's order (client formats first).

    for package in (
        openai_chat,
        anthropic,
        openai_responses,
        gemini,
        gemini_interactions,
        bedrock,
        cohere,
    ):
        register(CODECS, package.CODEC)


_register_all()

# The codec of a request that names none (an unknown name, the playground's default).
DEFAULT: Codec = CODECS["openai"]


def clients() -> dict[str, Dialect]:
    """Every codec with a client half, by name, in the console's order."""
    return {name: c.client for name, c in CODECS.items() if c.client is not None}


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


class ClientTargetCaps(TypedDict):
    """The ``Target`` capabilities a client's body is written for."""

    supports_reasoning: bool
    supports_tools: bool
    supports_vision: bool


# What a client may ask of the model it names: everything, the gateway's routing and the
# upstream's codec fit it to the deployment that answers.
CLIENT_TARGET_CAPS: ClientTargetCaps = {
    "supports_reasoning": True,
    "supports_tools": True,
    "supports_vision": True,
}


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


__all__ = [
    "CLIENT_TARGET_CAPS",
    "CODECS",
    "DEFAULT",
    "Codec",
    "client",
    "clients",
    "codec",
    "register",
    "request_body",
]
