"""The endpoint table: which wire format (a ``gateway.codecs.CODECS`` name) each API
path speaks. It is the edge's (paths are how a request comes in); the codecs themselves
and the lookups on them (``gateway.codecs.client()``, ``codec()``, ``clients()``) sit in
``gateway.codecs``, below every layer that needs one. A new client dialect is its codec
package (with a client half) plus its lines here; the service and the endpoints look
codecs up by name and read what differs from them, never branching on the name."""

from __future__ import annotations

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
    "/v1/responses/input_tokens": ("input_tokens", "responses"),
    "/responses/input_tokens": ("input_tokens", "responses"),
    "/openai/v1/responses/input_tokens": ("input_tokens", "responses"),
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
# The Gemini Interactions API (its resources GET, DELETE and cancel: the Interactions
# feature's route, gateway.features.interactions.routes).
INTERACTIONS = "gemini_interactions"  # the codec's name
INTERACTIONS_PATHS = ("/v1beta/interactions", "/v1/interactions")
for _path in INTERACTIONS_PATHS:
    POST_ROUTES[_path] = ("chat", INTERACTIONS)
# OpenAI's media endpoints (gateway.features.media): images and audio, under each prefix.
for _prefix in ("/v1", "", "/openai/v1"):
    POST_ROUTES[f"{_prefix}/images/generations"] = ("image_generation", "openai")
    POST_ROUTES[f"{_prefix}/images/edits"] = ("image_edit", "openai")
    POST_ROUTES[f"{_prefix}/audio/transcriptions"] = ("transcription", "openai")
    POST_ROUTES[f"{_prefix}/audio/translations"] = ("translation", "openai")
    POST_ROUTES[f"{_prefix}/audio/speech"] = ("speech", "openai")
    for _secrets in (
        "realtime/client_secrets",
        "realtime/transcription_sessions",
        "realtime/translations/client_secrets",
    ):
        POST_ROUTES[f"{_prefix}/{_secrets}"] = ("realtime_client_secret", "openai")
# Gemini API: POST {prefix}/{model}:{method}, the model named in the path.
GEMINI = "gemini"
GEMINI_METHODS: dict[str, tuple[str, bool]] = {  # method -> (endpoint, stream)
    "generateContent": ("chat", False),
    "streamGenerateContent": ("chat", True),
    "countTokens": ("count_tokens", False),
}
