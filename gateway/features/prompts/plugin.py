"""Registers the prompt registry into the snapshot and the pipeline
(``gateway.base.hooks``), from ``GatewayConfig.ready``; ``expand`` is the one rewrite a
request naming a prompt goes through."""

from __future__ import annotations

from typing import Any

from gateway.access import authorization, registry
from gateway.base import hooks
from gateway.base.errors import PermissionDenied, SnapshotMiss
from gateway.features.prompts import reference, snapshot


def expand(call: Any, key: Any, body: dict[str, Any]) -> None:
    """``body`` with its prompt reference replaced by the prompt's messages (in place);
    a body naming no prompt is left as it is after two dict lookups."""
    if "prompt_id" not in body and "prompt" not in body:
        return
    dialect = call.dialect
    if call.endpoint != "chat" or dialect not in reference.DIALECTS:
        return  # ``prompt`` of /v1/completions is its text, not a reference
    if "prompt_id" not in body and dialect != "responses":
        return
    prompts = registry.current().parts.get(snapshot.PART, {})
    unknown = reference.missing(body, prompts)
    if unknown is not None:  # created a moment ago in another process?
        raise SnapshotMiss(unknown)
    if "prompt_id" in body:
        ref: reference.Reference | None = reference.chat_reference(body)
    else:
        ref = reference.responses_reference(body, prompts)
    if ref is None:  # OpenAI's own stored prompt: the upstream's to read
        return
    version = reference.resolve(ref, prompts)
    allowed = authorization.decide(key, "prompt.use", ref.name)
    if not allowed:
        raise PermissionDenied(allowed.reason)
    reference.apply(dialect, body, version, reference.rendered(ref, version))
    record = call.record
    record.prompt_name, record.prompt_version = ref.name, version.number


def register() -> None:
    hooks.snapshot_parts.register(snapshot.PART, snapshot.load)
    hooks.request_bodies.register(expand)
