"""Anthropic's API versions (the ``anthropic-version`` header) and what each refuses,
declared once: the adapters of every Claude host read them (``providers.anthropic``,
``providers.bedrock``: which version a deployment speaks), the gateway's mediation reads
them (``gateway.core.mediation``: what a request loses, refused on a strict route) and
``conform`` holds a Messages body to one (a passed-through body, a translated one with
the deployment's params).

``2026-10-21`` (the first version since ``2023-06-01``, sent by default by the SDK majors
of that autumn) answers 400 to ``temperature``, ``top_p`` or ``top_k`` even at their
default values, to a ``document`` block in an assistant turn and to non-empty
``citations`` on a user's text block; ``2023-06-01`` takes all of them.
"""

from __future__ import annotations

from typing import Any

from gateway.codecs.base import ApiVersion

V2023_06_01 = ApiVersion("2023-06-01")
V2026_10_21 = ApiVersion(
    "2026-10-21",
    refuses=frozenset({"temperature", "top_p", "top_k"}),
    assistant_documents=False,
    user_citations=False,
)
VERSIONS: dict[str, ApiVersion] = {v.name: v for v in (V2023_06_01, V2026_10_21)}
DEFAULT = V2023_06_01
# The deployment param that names the version (validated when saved), and the header.
PARAM = "anthropic_version"
HEADER = "anthropic-version"

# Deployment params that are Messages API fields, sent with every request of the
# deployment (the request's own value wins); ``stop`` is LiteLLM's name for
# ``stop_sequences``. Anything else in params steers the gateway or is another API's.
PARAM_FIELDS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "metadata",
        "service_tier",
        "inference_geo",
        "output_config",
        "context_management",
    }
)
PARAM_ALIASES = {"stop": "stop_sequences"}

# A change made to a body: (field, "dropped" | "rewritten", why).
Change = tuple[str, str, str]
DOCUMENT_FIELD = "document (assistant turn)"
CITATIONS_FIELD = "citations (user text)"


def param_fields(params: Any) -> dict[str, Any]:
    """The deployment's params that go into a Messages body, under the API's names."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        field = PARAM_ALIASES.get(name, name)
        if field not in PARAM_FIELDS or value is None:
            continue
        if field == "stop_sequences":
            value = [value] if isinstance(value, str) else list(value)
        out[field] = value
    return out


def _document_text(block: dict[str, Any]) -> str:
    """What an assistant turn's ``document`` block becomes: its text where it has some,
    else a line naming it."""
    found = block.get("source")
    source: dict[str, Any] = found if isinstance(found, dict) else {}
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return str(source["data"])
    content = source.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)
        ]
        if texts:
            return "\n\n".join(texts)
    title = block.get("title")
    return f"[document{' ' + repr(title) if isinstance(title, str) and title else ''} not shown]"


def _uncited(block: Any) -> Any:
    """A user text block without its citations (the block itself when it has none)."""
    if isinstance(block, dict) and block.get("type") == "text" and block.get("citations"):
        return {k: v for k, v in block.items() if k != "citations"}
    return block


def _user_content(content: list[Any]) -> list[Any]:
    out = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                clean = [_uncited(b) for b in inner]
                if any(a is not b for a, b in zip(clean, inner, strict=True)):
                    block = {**block, "content": clean}
        out.append(_uncited(block))
    return out


def conform(body: dict[str, Any], version: ApiVersion) -> tuple[dict[str, Any], list[Change]]:
    """``body`` (a Messages or count_tokens body) as ``version`` takes it, and what was
    changed: refused parameters dropped, an assistant turn's documents sent as their
    text, citations taken off user text. ``body`` itself when nothing changes (it is
    never changed in place)."""
    if version.lenient:
        return body, []
    changes: list[Change] = []
    out = body
    refused = [name for name in version.refuses if name in body]
    if refused:
        out = {k: v for k, v in body.items() if k not in refused}
        changes += [(name, "dropped", version.why()) for name in sorted(refused)]
    messages = body.get("messages")
    if not isinstance(messages, list):
        return out, changes
    turns: list[Any] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            turns.append(message)
            continue
        role = message.get("role")
        if role == "assistant" and not version.assistant_documents:
            if any(isinstance(b, dict) and b.get("type") == "document" for b in content):
                content = [
                    {"type": "text", "text": _document_text(b)}
                    if isinstance(b, dict) and b.get("type") == "document"
                    else b
                    for b in content
                ]
                changes.append((DOCUMENT_FIELD, "rewritten", version.why() + ": sent as text"))
        elif role == "user" and not version.user_citations:
            clean = _user_content(content)
            if any(a is not b for a, b in zip(clean, content, strict=True)):
                content = clean
                changes.append((CITATIONS_FIELD, "dropped", version.why()))
        turns.append(message if content is message["content"] else {**message, "content": content})
    if any(a is not b for a, b in zip(turns, messages, strict=True)):
        out = {**out, "messages": turns}
    return out, changes


def adaptive_thinking(body: dict[str, Any], effort: str) -> dict[str, Any]:
    """``body`` with its thinking made adaptive at ``effort`` (``output_config.effort``;
    an effort the caller set there stays)."""
    found = body.get("output_config")
    config: dict[str, Any] = found if isinstance(found, dict) else {}
    return {
        **body,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": anthropic_effort(effort), **config},
    }


def anthropic_effort(effort: str) -> str:
    """A canonical effort as ``output_config.effort`` takes it (low, medium, high)."""
    return "low" if effort == "minimal" else effort
