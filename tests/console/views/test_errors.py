"""The console's 404 and 500 pages (``console.views.errors``, the server's handler404
and handler500): a path nothing answers gets the console's "Nothing here" page, and a
failure the standalone 500 page, which renders without the request (that may be what
broke)."""

from __future__ import annotations

from django.test import Client, RequestFactory

from console.views import errors
from gateway.server import urls


def test_the_server_points_its_handlers_here() -> None:
    assert urls.handler404 == "console.views.errors.not_found"
    assert urls.handler500 == "console.views.errors.server_error"


def test_an_unknown_console_path_is_the_consoles_404(staff_client: Client) -> None:
    response = staff_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing here" in html and 'class="big-code">404<' in html


def test_the_404_and_500_pages_render_alone() -> None:
    request = RequestFactory().get("/gone/")
    missing = errors.not_found(request, Exception("gone"))
    assert missing.status_code == 404 and b"Nothing here" in missing.content
    broken = errors.server_error(request)
    assert broken.status_code == 500
    assert b"Something broke on our side" in broken.content and b"console.css" in broken.content
