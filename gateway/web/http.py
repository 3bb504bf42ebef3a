"""What the console's views share: the typed htmx request and small response helpers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def go_to(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Navigate after a successful action: a real redirect, or htmx's client redirect."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The whole page for a normal request, just the named partial for htmx."""
    return f"{template}#{partial}" if request.htmx else template
