"""What a route's web search settings must satisfy when saved (``route_problems``,
asked by ``gateway.ops.admin_ops`` for the console, ``/api`` and imports): the backend
is a kind the gateway knows, its URL is an http(s) URL (https unless it is this
host's), a kind that needs a key has one, and the key is an ``os.environ/NAME``
reference (never the key itself, which would be stored in clear) that may be read and
sent to that URL (``gateway.web.references``: rules ``env.resolve`` and ``env.send``).
A ``route`` backend names another route in ``web_search_url`` and has no key.
Refused when saved, naming the field, never at call time."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gateway.base.secrets import secret_refs
from gateway.features.server_tools.backends import BACKENDS, KINDS, ROUTE

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")  # as a route's, no pattern


def route_problems(route: Any) -> dict[str, str]:
    """Field -> why, for a Route row about to be saved (empty: none)."""
    from gateway.web import references

    problems: dict[str, str] = {}
    kind, url, key = route.web_search_backend, route.web_search_url.strip(), route.web_search_key
    if not kind:
        if url or key:
            problems["web_search_backend"] = (
                "name the search API the URL and key are for (one of " + ", ".join(KINDS) + ")"
            )
        return problems
    if kind == ROUTE:
        return _route_problems(route, url, key)
    api = BACKENDS.get(kind)
    if api is None:
        problems["web_search_backend"] = (
            f"unknown search backend {kind!r} (one of {', '.join(KINDS)})"
        )
        return problems
    parts = urlsplit(url)
    if not url:
        problems["web_search_url"] = f"name the URL of the {api.label} API web search uses"
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        problems["web_search_url"] = "an http or https URL is needed"
    elif parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS and key:
        problems["web_search_url"] = "a key is sent only over https (or to this host)"
    if not key:
        if api.needs_key:
            problems["web_search_key"] = f"the {api.label} API needs a key: os.environ/NAME"
        return problems
    if secret_refs.reference_name(key) is None:
        problems["web_search_key"] = (
            "give the key as os.environ/NAME (the operator's environment), not the key itself"
        )
        return problems
    found = references.problems({"web_search_key": key}, [url] if url else [])
    if found.get("web_search_key"):
        problems["web_search_key"] = "; ".join(found["web_search_key"])
    return problems


def _route_problems(route: Any, name: str, key: str) -> dict[str, str]:
    """A route as the backend: ``web_search_url`` names another route (one name, no
    pattern, no URL); no key (the search is asked under the caller's own)."""
    problems: dict[str, str] = {}
    if not name:
        problems["web_search_url"] = "name the route web search asks (a model that searches)"
    elif "://" in name or not ROUTE_NAME.match(name) or any(ch in name for ch in "*?["):
        problems["web_search_url"] = "name one route of this gateway, not a URL or a pattern"
    elif name == route.name:
        problems["web_search_url"] = "a route cannot search through itself"
    if key:
        problems["web_search_key"] = (
            "a search route is asked under the caller's own key: leave the key empty"
        )
    return problems
