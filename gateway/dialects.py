"""The endpoint table: which client dialect each API path speaks, and the client codec
(``gateway.codecs.base.Dialect``) of each dialect. A new client dialect is its codec
package (an inbound half that builds a ``CLIENT``) plus its lines here; the service and
the endpoints look dialects up by name and read what differs from the codec, never
branching on the name."""

from __future__ import annotations

from .codecs.anthropic import inbound as anthropic
from .codecs.base import Dialect
from .codecs.gemini import inbound as gemini
from .codecs.openai_chat import inbound as openai_chat
from .codecs.openai_responses import inbound as openai_responses

# dialect name (what the journal records) -> client codec, in the console's order
CLIENTS: dict[str, Dialect] = {
    codec.name: codec
    for codec in (openai_chat.CLIENT, anthropic.CLIENT, openai_responses.CLIENT, gemini.CLIENT)
}
# The dialect of a request that names none (an unknown name, the playground's default).
DEFAULT = openai_chat.CLIENT

# POST path -> (endpoint, dialect)
POST_ROUTES: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("chat", "openai"),
    "/chat/completions": ("chat", "openai"),
    "/openai/v1/chat/completions": ("chat", "openai"),
    "/v1/responses": ("chat", "responses"),
    "/responses": ("chat", "responses"),
    "/openai/v1/responses": ("chat", "responses"),
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
}
# Gemini API: POST {prefix}/{model}:{method}, the model named in the path.
GEMINI = gemini.CLIENT.name
GEMINI_METHODS: dict[str, tuple[str, bool]] = {  # method -> (endpoint, stream)
    "generateContent": ("chat", False),
    "streamGenerateContent": ("chat", True),
    "countTokens": ("count_tokens", False),
}


def client(dialect: str) -> Dialect:
    """The client codec of ``dialect`` (OpenAI chat for a name no table knows)."""
    return CLIENTS.get(dialect, DEFAULT)
