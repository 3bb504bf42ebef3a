"""Server tools on any upstream (issue #64): Anthropic's ``web_search_*`` and
``web_fetch_*`` tools and the Responses API's ``web_search``, sent to a route whose
upstreams do not run them, run by the gateway. A unit (``gateway.web.units``), plugged
into the chat job as one of its extra jobs (``hooks.extra_jobs``, ``plugin``).

- ``pipeline``: whether the gateway runs the request's server tools (``takes``: it has
  some and its route's upstreams do not all speak the client's own API, where they pass
  through untouched; ``code_execution_*`` is refused there, a 400 in the caller's
  format naming the tool, as no sandbox is configured) and the answer (``respond``);
- ``loop``: the model offered the tools as function tools, its calls run, the results
  fed back until it answers; each call a ``ServerToolItem`` the client's codec renders
  (``server_tool_use`` + ``web_search_tool_result`` / ``web_fetch_tool_result``,
  ``web_search_call``), streamed too, counted in ``usage.server_tool_use``;
- ``backends``: the search APIs a route may name (SearXNG, Brave, Tavily);
- ``route_search``: a route of the gateway as the backend (a model that searches,
  asked through the pipeline under the caller's key, its citations the results);
- ``fetch``: web fetch under the gateway's SSRF rules (``gateway.core.url_fetch``);
- ``checks``: what a route's web search settings must satisfy when saved.

Web search needs the route's backend (``web_search_backend``, ``web_search_url``,
``web_search_key``; for ``route``, ``web_search_url`` names the route); without one the tool is treated as before (dropped per
``drop_params``, noted as lost). Each search the gateway runs costs the route's
``web_search_price`` on top of the tokens, charged to the key's budget like them."""

from __future__ import annotations

from gateway.features.server_tools.backends import BACKENDS, ROUTE
from gateway.features.server_tools.checks import route_problems


def backend_choices() -> list[tuple[str, str]]:
    """The search backends a route may name, for a form: (kind, label), none first."""
    apis = [(kind, api.label) for kind, api in BACKENDS.items()]
    return [("", "none"), *apis, (ROUTE, "a route of this gateway")]


__all__ = ["backend_choices", "route_problems"]
