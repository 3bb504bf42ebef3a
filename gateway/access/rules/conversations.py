"""Stored state as a resource: conversations (``/v1/conversations``), background
responses (``/v1/responses/{id}`` read, streamed, cancelled) and stored Gemini
interactions (``/v1beta/interactions/{id}``). Each belongs to
the key that created them; nobody else learns they exist (the endpoints answer an
unknown id's 404)."""

from __future__ import annotations

from typing import Any

from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry


def _own(actor: Any, row: Any) -> bool:
    """``row.key_id`` is its creating key's id (None: the master key's)."""
    return isinstance(actor, KeyEntry) and actor.id == getattr(row, "key_id", -1)


@rule("conversation.use")
def conversation_use(actor: Any, conversation: Any) -> Decision:
    """Read, change, delete, add to or continue a conversation and its items: the key that
    created it (the master key's are its own, not everyone's)."""
    return ALLOW if _own(actor, conversation) else deny("no such conversation")


@rule("response.use")
def response_use(actor: Any, response: Any) -> Decision:
    """Read, stream, cancel or delete a stored or background response: the key that
    created it (the master key's are its own)."""
    return ALLOW if _own(actor, response) else deny("no such response")


@rule("interaction.use")
def interaction_use(actor: Any, interaction: Any) -> Decision:
    """Read, stream, cancel or delete a stored Gemini interaction: the key that created
    it (the master key's are its own)."""
    return ALLOW if _own(actor, interaction) else deny("no such interaction")
