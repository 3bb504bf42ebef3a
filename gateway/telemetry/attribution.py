"""Spend attribution: the end user and the session a request is for.

The caller's codec reads them from its dialect's own fields into the canonical request
(``ChatRequest.end_user`` / ``session``: OpenAI ``safety_identifier`` or ``user``,
Anthropic ``metadata.user_id`` with Claude Code's session, Gemini ``labels``); the
headers ``x-switchyard-user`` and ``x-switchyard-session`` win over them, for every
endpoint, including those that parse no chat request (embeddings), and for MCP tool
calls on ``/mcp`` (``end_user_of``: MCP has no field of its own for an end user). No
Django, no I/O: this runs on the request path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

USER_HEADER = "x-switchyard-user"
SESSION_HEADER = "x-switchyard-session"
MAX_LENGTH = 200  # the journal's column width


def _clean(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value.strip() if ch.isprintable())[:MAX_LENGTH]


def end_user_of(headers: Mapping[str, str]) -> str:
    """The end user ``x-switchyard-user`` names, cleaned as ``attribute`` cleans it
    ("" without one): for requests that parse no dialect's user field."""
    return _clean(headers.get(USER_HEADER))


def attribute(record: Any, request: Any, headers: Mapping[str, str]) -> None:
    """Set ``record.end_user`` and ``record.session`` from the headers, else from the
    parsed request (None when the endpoint parses none)."""
    end_user = headers.get(USER_HEADER) or getattr(request, "end_user", None)
    session = headers.get(SESSION_HEADER) or getattr(request, "session", None)
    record.end_user = _clean(end_user)
    record.session = _clean(session)
