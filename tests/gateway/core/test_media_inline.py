"""Media parts inlined for an upstream that takes bytes only
(``gateway.core.media_inline``): parts are replaced by their bytes for what the upstream
lacks."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.base.types import Document, Image
from gateway.core import media_inline
from tests.gateway.core.test_url_fetch import request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
PDF = b"%PDF-1.4 a tiny pdf"


class Media(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        Media.hosts.append(self.headers.get("Host", ""))
        routes = {
            "/cat.png": (200, "image/png", PNG),
            "/doc.pdf": (200, "application/pdf; charset=binary", PDF),
            "/notes.txt": (200, "text/plain", b"plain notes"),
            "/page.html": (200, "text/html", b"<html></html>"),
            "/big.png": (200, "image/png", b"\x00" * 4096),
            "/missing": (404, "text/plain", b"no"),
        }
        path = self.path.split("?", 1)[0]
        if path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/chunked-big.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(8):
                self.wfile.write(b"200\r\n" + b"\x00" * 512 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        status, kind, body = routes.get(path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def media() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Media)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def allowed(settings):  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"
    settings.SWITCHYARD_URL_FETCH_MAX_BYTES = 2048
    settings.SWITCHYARD_URL_FETCH_TIMEOUT = 5.0
    return settings


async def test_parts_are_replaced_by_their_bytes_for_what_the_upstream_lacks(
    allowed, media
) -> None:
    out = await media_inline.inline(request(media), frozenset())
    image, pdf, notes = out.messages[0].parts[1:]
    assert image == Image(data=base64.b64encode(PNG).decode(), media_type="image/png")
    assert pdf == Document(
        media_type="application/pdf", data=base64.b64encode(PDF).decode(), filename="Report"
    )
    assert notes.text == "plain notes"
    assert out.messages[1].parts[0].content == [image]
    keep_images = await media_inline.inline(request(media), frozenset({"image"}))
    assert keep_images.messages[0].parts[1] == Image(url=f"{media}/cat.png")
    original = request(media)
    assert await media_inline.inline(original, None) is original
