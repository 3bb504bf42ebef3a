"""Wire formats, one package each, owning both directions (see ``base``), and the one
registry of them: ``CODECS`` maps each format's one name to its ``Codec``.

A new wire format is its package (whose ``__init__`` builds a ``CODEC``) plus its line
below; the endpoint table (``gateway.edge.dialects``), the providers (``speaks``), the journal
and the console all name formats by these keys."""

from __future__ import annotations

from gateway.codecs.base import Codec, register

CODECS: dict[str, Codec] = {}


def _register_all() -> None:
    # In the console's order (client formats first).
    from gateway.codecs import anthropic, bedrock, cohere, gemini, openai_chat, openai_responses

    for package in (openai_chat, anthropic, openai_responses, gemini, bedrock, cohere):
        register(CODECS, package.CODEC)


_register_all()

__all__ = ["CODECS", "Codec", "register"]
