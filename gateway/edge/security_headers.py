"""A Content-Security-Policy on the console's pages: scripts, styles, images and
connections from this origin only (images also from ``data:`` URLs), no plugins, no
framing, forms posting here. A prompt-injected answer in the playground then cannot
load a remote image carrying the conversation out, nor run a script, even if the
Markdown sanitiser let one through. The console has no inline scripts or style
attributes (computed widths are set from ``data-`` attributes by ``console.js``, and
htmx's own indicator styles are off: ``console.css`` has them).

``/admin/`` (Django's admin) and ``/api/`` (JSON, and the API docs page that loads its
viewer from a CDN) are left as they are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from gateway.web.http import CONTENT_SECURITY_POLICY as POLICY

EXEMPT_PREFIXES = ("/admin/", "/api/")


def _with_policy(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    html = response.get("Content-Type", "").startswith("text/html")
    if html and not request.path.startswith(EXEMPT_PREFIXES):
        response.headers.setdefault("Content-Security-Policy", POLICY)
    return response


# Django's middleware decorator is untyped here (no stubs): it marks the factory and
# returns it unchanged.
@sync_and_async_middleware  # type: ignore[untyped-decorator]
def content_security_policy(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            response = await get_response(request)
            return _with_policy(request, response)

        return middleware

    def middleware_sync(request: HttpRequest) -> HttpResponse:
        return _with_policy(request, get_response(request))

    return middleware_sync
