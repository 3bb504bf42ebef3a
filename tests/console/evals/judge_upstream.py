"""An OpenAI-compatible upstream on 127.0.0.1 (a real HTTP server in a thread) for the
continuous evaluators' tests: a grading prompt gets the judge's reply (the test sets
it), anything else a fixed answer; streamed (SSE, with a usage chunk) when asked, so
the gateway's own provider, stream parser and cost apply. Counts what it was asked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "Paris is the capital of France."
JUDGE_REPLY = "The answer is correct and concise. Score: 8"
GRADING = "You are grading an answer."


@dataclass
class Upstream:
    url: str = ""
    judge_reply: str = JUDGE_REPLY
    prompt_tokens: int = 1000
    completion_tokens: int = 1000
    asked: list[dict[str, Any]] = field(default_factory=list)

    @property
    def judge_calls(self) -> int:
        return sum(1 for body in self.asked if GRADING in _last_user(body))


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


@contextmanager
def judge_upstream() -> Iterator[Upstream]:
    state = Upstream()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            size = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(size))
            state.asked.append(body)
            text = state.judge_reply if GRADING in _last_user(body) else ANSWER
            usage = {"prompt_tokens": state.prompt_tokens,
                     "completion_tokens": state.completion_tokens,
                     "total_tokens": state.prompt_tokens + state.completion_tokens}  # fmt: skip
            base = {"id": "chatcmpl-mock", "created": int(time.time()), "model": body.get("model")}
            if body.get("stream"):
                chunks = [
                    {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]},
                    {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                    {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage},
                ]  # fmt: skip
                payload = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
                payload += b"data: [DONE]\n\n"
                kind = "text/event-stream"
            else:
                payload = json.dumps({
                    **base, "object": "chat.completion", "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                }).encode()  # fmt: skip
                kind = "application/json"
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
