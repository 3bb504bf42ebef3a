"""Static files (the console's CSS and scripts, django-htmx's bundled htmx) served by
the gateway itself, so a plain ``manage.py serve`` needs no web server in front.
Files are found through the staticfiles finders (no collectstatic needed) and sent with
Last-Modified / If-Modified-Since handling by ``django.views.static.serve``, then
buffered: the files are small, and a streamed ``FileResponse`` makes Django's ASGI
handler iterate a sync file in a thread and warn in every worker's log."""

from __future__ import annotations

import os

from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.views.static import serve

CACHE_SECONDS = 3600


def static_file(request: HttpRequest, path: str) -> HttpResponse:
    try:
        found = finders.find(path)
    except SuspiciousFileOperation:
        found = None
    if not found or not os.path.isfile(found):
        raise Http404(path)
    response = serve(request, os.path.basename(found), document_root=os.path.dirname(found))
    if response.streaming:
        buffered = HttpResponse(b"".join(response.streaming_content), status=response.status_code)
        for header, value in response.items():
            buffered[header] = value
        response.close()
        response = buffered
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response
