"""Where stored interactions live on the API, and which requests are theirs: the route
table's match (``hooks.ApiRoute.match``), reading the path only."""

from __future__ import annotations

# the Interactions API's collection (POST to it is the endpoint table's "chat":
# gateway.edge.dialects); a stored interaction is a path under it
INTERACTIONS_PATHS = ("/v1beta/interactions", "/v1/interactions")


def stored_interaction_target(path: str) -> tuple[str, str] | None:
    """(interaction id, "" or "cancel") for a path under /v1beta/interactions/ (or
    /v1/interactions/), else None."""
    for base in INTERACTIONS_PATHS:
        if path.startswith(base + "/"):
            rest = path[len(base) + 1 :].split("/")
            if len(rest) == 1 and rest[0]:
                return rest[0], ""
            if len(rest) == 2 and rest[0] and rest[1] == "cancel":
                return rest[0], "cancel"
            return None
    return None


def stored_interaction(method: str, path: str) -> tuple[str, str] | None:
    """``GET``/``DELETE /v1beta/interactions/{id}``, ``POST .../{id}/cancel``."""
    found = stored_interaction_target(path) if method in ("GET", "DELETE", "POST") else None
    if found is not None and (found[1] == "cancel") != (method == "POST"):
        return None  # POST only to cancel; GET and DELETE only the resource
    return found
