"""Where the Responses API's stored objects live on the API, and which requests are
theirs: the route table's matches (``hooks.ApiRoute.match``), asked for every request
that reaches them, so they read the path only and import nothing."""

from __future__ import annotations

RESPONSES_PATHS = ("/v1/responses", "/responses", "/openai/v1/responses")
CONVERSATIONS_PATHS = ("/v1/conversations", "/conversations", "/openai/v1/conversations")


def stored_response_target(path: str) -> tuple[str, str] | None:
    """(response id, "" or the part after it: "input_items", "cancel") for a path under
    /v1/responses/, else None."""
    for base in RESPONSES_PATHS:
        if path.startswith(base + "/"):
            rest = path[len(base) + 1 :].split("/")
            if len(rest) == 1 and rest[0]:
                return rest[0], ""
            if len(rest) == 2 and rest[0] and rest[1]:
                return rest[0], rest[1]
            return None
    return None


def conversation_target(path: str) -> tuple[str, str, str] | None:
    """(conversation id, "" or "items", item id) for a path under /v1/conversations:
    ``("", "", "")`` is the collection itself; None for any other path."""
    for base in CONVERSATIONS_PATHS:
        if path == base:
            return "", "", ""
        if path.startswith(base + "/"):
            rest = path[len(base) + 1 :].split("/")
            if not all(rest) or len(rest) > 3 or (len(rest) > 1 and rest[1] != "items"):
                return None
            return rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
    return None


def stored_response(method: str, path: str) -> tuple[str, str] | None:
    """``GET``/``DELETE /v1/responses/{id}``, ``GET .../{id}/input_items``, ``POST
    .../{id}/cancel``: (response id, part)."""
    found = stored_response_target(path)
    if found is not None and found[1] == "cancel":
        return found if method == "POST" else None
    return found if method in ("GET", "DELETE") else None


def conversations(method: str, path: str) -> tuple[str, str, str] | None:
    """``/v1/conversations[/{id}[/items[/{item_id}]]]``: (id, part, item id)."""
    return conversation_target(path) if "conversations" in path else None
