"""What the console's views (and some API handlers) share: the typed htmx request and small
response helpers."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

# The console's Content-Security-Policy (set on its pages by
# ``gateway.edge.security_headers``; a page that must widen it, as the MCP sign-in's
# answer to a client's redirect URI, starts from this one).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def go_to(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Navigate after a successful action: a real redirect, or htmx's client redirect."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def deleted(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a row is deleted: nothing for htmx (the row swaps itself out), else on to
    ``url`` (the list)."""
    return HttpResponse("") if request.htmx else HttpResponseRedirect(url)


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The whole page for a normal request, just the named partial for htmx."""
    return f"{template}#{partial}" if request.htmx else template


def first_or_404(rows: Any, missing: str) -> Any:
    """The first of ``rows``, or a 404 saying ``missing`` (``get_object_or_404`` names
    the model, not the row asked for)."""
    found = rows.first()
    if found is None:
        raise Http404(missing)
    return found
