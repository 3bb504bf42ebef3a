"""A vendor API on 127.0.0.1 that answers what a test scripts and records what it got,
for the endpoints the shared mocks do not serve (a model by id, a beta path, Anthropic's
skills): ``answer(method, path, Answer(...))``; anything unscripted is the vendor's 404.

An ``Answer`` with ``events`` is a stream (chunked, one write per event); with
``hold_after`` it stops after that many events until the test sets ``release`` (it sets
``held`` when it stops), so a test can see what the gateway relayed meanwhile."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON, or bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    events: list[bytes] | None = None  # a stream: each event one write
    hold_after: int | None = None  # events written before waiting for ``release``
    cut_after: int | None = None  # events written before the connection drops (no end)
    content_type: str = "application/json"


@dataclass
class Seen:
    method: str
    path: str  # as received (percent-encoded)
    query: str
    headers: dict[str, str]  # lower-cased names
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


class VendorMock:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        self.seen: list[Seen] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> VendorMock:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.answers.clear()
            self.seen.clear()
        self.held.clear()
        self.release.clear()

    def answer(self, method: str, path: str, answer: Answer) -> None:
        self.answers[(method, path)] = answer


def _handler(mock: VendorMock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            with mock.lock:
                mock.seen.append(Seen(self.command, path, query, headers, raw))
                answer = mock.answers.get((self.command, path))
            if answer is None:
                answer = Answer(404, {"error": {"message": f"no {path}", "type": "not_found"}})
            self.send_response(answer.status)
            self.send_header("content-type", answer.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.events is None:
                body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body)
                data = body if isinstance(body, bytes) else body.encode()
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for sent, event in enumerate(answer.events):
                    if sent == answer.hold_after:
                        mock.held.set()
                        mock.release.wait(30)
                    if sent == answer.cut_after:
                        self.close_connection = True  # dropped: no last chunk
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the gateway hung up
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
