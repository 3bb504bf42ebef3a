"""A provider's usage and cost API on 127.0.0.1 (a real HTTP server in a thread),
answering the golden pages of tests/fixtures/billing/ in order: the first page without
``page``, the next for the previous page's ``next_page``; 401 without the admin key as
the provider wants it, 400 without ``bucket_width=1d`` or the window's start."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "billing"


def golden(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return found


@dataclass
class BillServer:
    kind: str  # openai | anthropic
    key: str
    url: str = ""
    status: int = 200
    routes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path -> pages
    seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)

    def authorized(self, headers: Any) -> bool:
        if self.kind == "openai":
            return headers.get("authorization") == f"Bearer {self.key}"
        return headers.get("x-api-key") == self.key and bool(headers.get("anthropic-version"))


@contextmanager
def bill_server(kind: str, key: str, *fixtures: str) -> Iterator[BillServer]:
    state = BillServer(kind, key)
    for name in fixtures:
        found = golden(name)
        state.routes[found["path"]] = found["pages"]
    start = "start_time" if kind == "openai" else "starting_at"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.seen.append((parts.path, query, dict(self.headers.items())))
            pages = state.routes.get(parts.path)
            if pages is None:
                return self.answer(404, {"error": {"message": "not found"}})
            if not state.authorized(self.headers):
                return self.answer(401, {"error": {"message": "invalid admin key"}})
            if state.status != 200:
                return self.answer(state.status, {"error": {"message": "overloaded"}})
            if query.get("bucket_width") != ["1d"] or start not in query:
                return self.answer(400, {"error": {"message": "bad window"}})
            cursor = query.get("page", [None])[0]
            index = 0
            if cursor is not None:
                follows = [i + 1 for i, p in enumerate(pages) if p.get("next_page") == cursor]
                if not follows:
                    return self.answer(400, {"error": {"message": "bad page"}})
                index = follows[0]
            return self.answer(200, pages[index])

        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
