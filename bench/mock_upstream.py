"""A mock LLM upstream so cheap it is never the bottleneck: a raw asyncio protocol on
127.0.0.1 answering every POST from precomputed bytes, HTTP/1.1 keep-alive.

- ``/v1/chat/completions`` (and ``/chat/completions``): an OpenAI ``chat.completion``
  JSON body, or with ``"stream": true`` in the body an OpenAI SSE stream (role chunk,
  ``TOKENS`` content chunks, finish chunk, usage chunk, ``[DONE]``).
- ``/v1/messages``: an Anthropic ``message`` JSON body or SSE event stream.

Every stream's first content token is ``MARKER`` so a client can time the first token
whatever dialect renders it. Run: ``python bench/mock_upstream.py --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import cast

import orjson

MARKER = "Hello"
TOKENS = [MARKER] + [f" tok{i}" for i in range(1, 20)]
TEXT = "".join(TOKENS)
USAGE_OPENAI = {"prompt_tokens": 12, "completion_tokens": len(TOKENS), "total_tokens": 32}


def _http(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: keep-alive\r\n\r\n"
        + body
    )


def _http_chunked(events: list[bytes]) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
        b"connection: keep-alive\r\n\r\n"
    )
    chunks = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
    return head + b"".join(chunks) + b"0\r\n\r\n"


def _sse(data: Mapping[str, object] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def openai_json() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TEXT},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": USAGE_OPENAI,
    }
    return _http(orjson.dumps(body), b"application/json")


def openai_stream() -> bytes:
    base: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench-model",
    }

    def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [_sse(chunk({"role": "assistant", "content": ""}))]
    events += [_sse(chunk({"content": t})) for t in TOKENS]
    events.append(_sse(chunk({}, "stop")))
    events.append(_sse({**base, "choices": [], "usage": USAGE_OPENAI}))
    events.append(_sse("[DONE]"))
    return _http_chunked(events)


def anthropic_json() -> bytes:
    body = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench-model",
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": len(TOKENS)},
    }
    return _http(orjson.dumps(body), b"application/json")


def anthropic_stream() -> bytes:
    message: dict[str, object] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench-model",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events = [_sse({"type": "message_start", "message": message}, "message_start")]
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    events.append(_sse(start, "content_block_start"))
    for token in TOKENS:
        delta = {"type": "content_block_delta", "index": 0}
        delta["delta"] = {"type": "text_delta", "text": token}
        events.append(_sse(delta, "content_block_delta"))
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    done = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    done["usage"] = {"output_tokens": len(TOKENS)}
    events.append(_sse(done, "message_delta"))
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return _http_chunked(events)


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
RESPONSES = {
    (b"/v1/chat/completions", False): openai_json(),
    (b"/v1/chat/completions", True): openai_stream(),
    (b"/chat/completions", False): openai_json(),
    (b"/chat/completions", True): openai_stream(),
    (b"/v1/messages", False): anthropic_json(),
    (b"/v1/messages", True): anthropic_stream(),
}


def wants_stream(body: bytes) -> bool:
    return b'"stream":true' in body or b'"stream": true' in body


class MockProtocol(asyncio.Protocol):
    """Parses pipelined HTTP/1.1 requests out of the buffer; answers each at once."""

    __slots__ = ("transport", "buffer")
    transport: asyncio.Transport
    buffer: bytes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # typeshed gives Protocol.connection_made the BaseTransport every protocol kind
        # shares; a stream protocol's is a Transport (asyncio's or uvloop's, which
        # subclasses no asyncio class, so no isinstance check).
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            lowered = head.lower()
            at = lowered.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lowered.find(b"\r\n", at + 2)
                length = int(lowered[at + 17 : stop if stop > 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                break
            body = buffer[end + 4 : total]
            buffer = buffer[total:]
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            self.transport.write(RESPONSES.get((path, wants_stream(body)), NOT_FOUND))
        self.buffer = buffer


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, host, port, backlog=4096, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
