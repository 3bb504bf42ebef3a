"""Checks on the bodies of the OpenAI endpoints that pass through untranslated
(``/v1/embeddings``, legacy ``/v1/completions``).

They are forwarded as sent, so without these checks a malformed ``input`` or ``prompt``
reaches the upstream (costing a call and, on some servers, answering 200 with
nonsense). OpenAI accepts a string, an array of strings, an array of token ids, or an
array of such arrays; anything else is a 400 naming the field, as OpenAI answers it.
No Django imports.
"""

from __future__ import annotations

from typing import Any

from gateway.base.errors import InvalidRequest


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text_or_tokens(value: Any, field: str, *, allow_empty_string: bool) -> None:
    """A string, or a non-empty array of strings, of token ids, or of token-id arrays."""
    what = f"{field} must be a string, an array of strings, or an array of token ids"
    if isinstance(value, str):
        if not value and not allow_empty_string:
            raise InvalidRequest(f"{field} must not be an empty string", param=field)
        return
    if not isinstance(value, list):
        raise InvalidRequest(what, param=field)
    if not value:
        raise InvalidRequest(f"{field} must not be an empty array", param=field)
    if all(isinstance(item, str) for item in value):
        if not allow_empty_string and any(not item for item in value):
            raise InvalidRequest(f"{field} must not contain empty strings", param=field)
        return
    if all(_is_token(item) for item in value):
        return
    if all(isinstance(item, list) and item and all(map(_is_token, item)) for item in value):
        return
    raise InvalidRequest(what, param=field)


def embeddings_body(model: str, texts: list[str]) -> dict[str, Any]:
    """An ``/v1/embeddings`` request for ``texts`` (what the console's scorers send)."""
    body: dict[str, Any] = {"model": model, "input": texts}
    check_embeddings(body)
    return body


def check_embeddings(body: dict[str, Any]) -> None:
    """``input`` is required; an empty string or array is refused as OpenAI does."""
    if "input" not in body:
        raise InvalidRequest("input is required", param="input")
    _text_or_tokens(body["input"], "input", allow_empty_string=False)


def check_completions(body: dict[str, Any]) -> None:
    """``prompt`` is required (an empty string is a valid prompt); ``stream`` is a
    boolean when given."""
    if "prompt" not in body:
        raise InvalidRequest("prompt is required", param="prompt")
    _text_or_tokens(body["prompt"], "prompt", allow_empty_string=True)
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
