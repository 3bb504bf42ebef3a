"""404 and 500 pages in the console's style (gateway.server.urls points handler404/500 here)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseServerError
from django.template import loader


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return HttpResponseNotFound(loader.render_to_string("404.html", {}, request))


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: the failure may have come from it.
    return HttpResponseServerError(loader.render_to_string("500.html", {}))
