"""A scriptable mock upstream on 127.0.0.1, speaking both upstream protocols:

- OpenAI Chat Completions (``*/chat/completions``): JSON, or SSE chunks with reasoning
  pieces, text pieces, tool calls whose arguments arrive in many fragments (several
  calls in one turn), the finish chunk, then the usage chunk, then ``[DONE]``;
- Anthropic Messages (``/v1/messages``): JSON, or SSE with message_start, ping,
  thinking (thinking_delta pieces + signature_delta), text, tool_use (input_json_delta
  pieces), message_delta, message_stop; and ``/v1/messages/count_tokens``;
- what Anthropic refuses per API version and model (``tests.anthropic_rules``: a
  2026-10-21 request with ``temperature``, a budget for Claude Opus 4.7+...) is a 400;
- Anthropic's prompt cache (``mock_prompt_cache``): more than 4 ``cache_control``
  blocks is a 400; a repeated prefix up to a breakpoint reports cache read/write usage;
- OpenAI ``*/embeddings`` (the vector ``embedding`` gives an input, else [0.1, 0.2]) and
  legacy ``*/completions`` (JSON only), ``GET */models``;
- OpenAI's images and audio endpoints, strict as OpenAI is (``mock_media``);
- OpenAI's Files + Batch API and Anthropic's Message Batches (``mock_batches``), and
  Gemini's batch mode with its Files API (``mock_gemini_batches``): a
  batch ends ``batches.delay`` seconds after it was created.

Tests queue ``Reply`` objects (served first in, first out to the next chat request of
either protocol; with none queued ``default`` answers) and read ``seen``: every request
received, with its path, query, headers and JSON body. A reply may be an error status
with a body and headers (Retry-After), a delay, an in-stream error event after N
events, or a dropped connection after N events (no terminating chunk: a real cut).
It runs in a daemon thread of the test process; ``stop()`` shuts it down.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import anthropic_rules
from tests.integration import mock_media
from tests.integration.mock_batches import BatchUpstream
from tests.integration.mock_gemini_batches import GeminiBatchUpstream
from tests.integration.mock_prompt_cache import PromptCache, TooManyBreakpoints


def rerank_score(query: str, document: str) -> float:
    """A deterministic relevance: the share of the query's words in the document."""
    words = set(query.lower().split())
    return round(len(words & set(document.lower().split())) / max(len(words), 1), 4)


def rerank_answer(body: dict[str, Any]) -> Any:
    """vLLM's ``/rerank`` answer, or text-embeddings-inference's bare list."""
    query = body.get("query") or ""
    if "texts" in body:  # TEI
        scored = [(i, rerank_score(query, t)) for i, t in enumerate(body["texts"])]
        return [{"index": i, "score": s} for i, s in sorted(scored, key=lambda p: -p[1])]
    documents = body.get("documents") or []
    scored = [(i, rerank_score(query, d)) for i, d in enumerate(documents)]
    scored.sort(key=lambda p: -p[1])
    results = [
        {"index": i, "relevance_score": s, "document": {"text": documents[i]}}
        for i, s in scored[: body.get("top_n") or len(scored)]
    ]
    return {
        "id": "rerank-mock",
        "model": body.get("model"),
        "usage": {"total_tokens": 23},
        "results": results,
    }


@dataclass
class ToolUse:
    id: str
    name: str
    arguments: str  # JSON text, streamed in small fragments


@dataclass
class Reply:
    """One scripted upstream answer, rendered in whichever protocol was asked."""

    text: str = ""
    reasoning: str = ""  # OpenAI reasoning_content / Anthropic thinking
    signature: str = "sig-mock-thinking"
    tool_calls: list[ToolUse] = field(default_factory=list)
    finish: str | None = None  # the upstream's own finish/stop reason; derived if None
    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # Anthropic cache_creation_input_tokens
    status: int = 200
    error: dict[str, Any] | None = None  # error body (status >= 400) or in-stream event
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    error_after: int | None = None  # SSE events sent before an in-stream error event
    cut_after: int | None = None  # SSE events sent before the connection drops
    piece: int = 3  # characters per streamed fragment
    split_writes: bool = False  # write each SSE event in two halves cut mid-bytes
    event_delay: float = 0.0  # seconds between SSE events

    @classmethod
    def failure(cls, status: int, body: dict[str, Any], retry_after: str | None = None) -> Reply:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return cls(status=status, error=body, headers=headers)


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    raw: bytes
    parts: list[Any] = field(default_factory=list)  # a multipart body's (mock_media)

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def openai_finish(reply: Reply) -> str:
    return reply.finish or ("tool_calls" if reply.tool_calls else "stop")


def anthropic_stop(reply: Reply) -> str:
    return reply.finish or ("tool_use" if reply.tool_calls else "end_turn")


def openai_usage(reply: Reply) -> dict[str, Any]:
    prompt = reply.input_tokens + reply.cached_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": reply.output_tokens,
        "total_tokens": prompt + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def openai_json(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in reply.tool_calls
        ]
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": openai_finish(reply)}],
        "usage": openai_usage(reply),
    }


def openai_events(reply: Reply, model: str, include_usage: bool) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces(reply.reasoning, reply.piece):
        yield chunk({"reasoning_content": piece})
    for piece in pieces(reply.text, reply.piece):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": call.id, "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        for piece in pieces(call.arguments, reply.piece):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, openai_finish(reply))
    if include_usage:
        usage = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [],
            "usage": openai_usage(reply),
        }
        yield b"data: " + json.dumps(usage).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def openai_error_event(reply: Reply) -> bytes:
    error = reply.error or {"error": {"message": "mock upstream failed mid-stream"}}
    return b"data: " + json.dumps(error).encode() + b"\n\n"


def anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append(
            {"type": "thinking", "thinking": reply.reasoning, "signature": reply.signature}
        )
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return blocks


def anthropic_json(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": anthropic_blocks(reply),
        "stop_reason": anthropic_stop(reply),
        "stop_sequence": None,
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_read_input_tokens": reply.cached_tokens,
            "cache_creation_input_tokens": reply.cache_write_tokens,
        },
    }


def anthropic_event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def anthropic_events(reply: Reply, model: str) -> Iterator[bytes]:
    message = {**anthropic_json(reply, model), "content": [], "stop_reason": None}
    message["usage"] = {**message["usage"], "output_tokens": 1}
    yield anthropic_event("message_start", {"type": "message_start", "message": message})
    yield anthropic_event("ping", {"type": "ping"})
    index = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> Iterator[bytes]:
        yield anthropic_event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        for delta in deltas:
            yield anthropic_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        yield anthropic_event("content_block_stop", {"type": "content_block_stop", "index": index})

    if reply.reasoning:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(reply.reasoning, 3)]
        deltas.append({"type": "signature_delta", "signature": reply.signature})
        yield from block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if reply.text:
        deltas = [{"type": "text_delta", "text": p} for p in pieces(reply.text, reply.piece)]
        yield from block({"type": "text", "text": ""}, deltas)
        index += 1
    for call in reply.tool_calls:
        deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
            {"type": "input_json_delta", "partial_json": p}
            for p in pieces(call.arguments, reply.piece)
        ]
        start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        yield from block(start, deltas)
        index += 1
    yield anthropic_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": anthropic_stop(reply), "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
    )
    yield anthropic_event("message_stop", {"type": "message_stop"})


def anthropic_invalid(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def anthropic_thinking_problem(body: dict[str, Any], mock: MockUpstream) -> str | None:
    """What Anthropic refuses about thinking in a request's history: a thinking block
    whose signature it never issued (with ``strict_signatures``), and, with thinking on, a last assistant turn that
    calls tools without opening with its thinking block (the signed reasoning was lost)."""
    messages = body.get("messages") or []
    for i, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        for j, block in enumerate(content):
            signature = block.get("signature")
            if (
                block.get("type") == "thinking"
                and mock.strict_signatures
                and signature not in mock.issued
            ):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
    if (body.get("thinking") or {}).get("type") != "enabled":
        return None
    for message in reversed(messages):
        if message.get("role") != "assistant":
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        if any(b.get("type") == "tool_use" for b in blocks) and blocks[0].get("type") not in (
            "thinking",
            "redacted_thinking",
        ):
            return (
                "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                "found `tool_use`. When `thinking` is enabled, a final `assistant` message "
                "must start with a thinking block."
            )
        break
    return None


def anthropic_error_event(reply: Reply) -> bytes:
    error = reply.error or {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    return anthropic_event("error", error)


def default_reply(seen: Seen) -> Reply:
    return Reply(text="Hello from the mock upstream.")


class MockUpstream:
    """The server; see the module docstring."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.replies: deque[Reply] = deque()
        self.default: Callable[[Seen], Reply] = default_reply
        self.token_count = 42
        self.prompt_cache = PromptCache()  # Anthropic's: breakpoints limited, usage real
        self.batches = BatchUpstream()  # the batch APIs (mock_batches)
        self.gemini_batches = GeminiBatchUpstream()  # Gemini's batch mode (mock_gemini_batches)
        self.issued: set[str] = {Reply.signature}  # thinking signatures it handed out
        # refuse thinking signed by anyone else (off by default: fixtures hand-write some)
        self.strict_signatures = False
        self.abandoned = threading.Event()  # a stream's reader hung up before its end
        self.media_delay = 0.005  # between the audio chunks of a speech answer
        self.media_sent: list[float] = []  # when each streamed media chunk went out
        self.media_cut_after: int | None = None  # drop a media stream after N chunks
        # the vector ``*/embeddings`` answers for an input (None: [0.1, 0.2] for any)
        self.embedding: Callable[[str], list[float]] | None = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MockUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.replies.clear()
            self.default = default_reply
            self.token_count = 42
            self.issued = {Reply.signature}
            self.strict_signatures = False
            self.abandoned.clear()
            self.media_delay = 0.005
            self.media_sent.clear()
            self.media_cut_after = None
            self.embedding = None
        self.prompt_cache.clear()
        self.batches.reset()
        self.gemini_batches.reset()

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def chat_requests(self) -> list[Seen]:
        """Requests to either chat endpoint (not count_tokens / models)."""
        with self.lock:
            return [s for s in self.seen if s.path.endswith(("/chat/completions", "/v1/messages"))]

    @property
    def last(self) -> Seen:
        requests = self.chat_requests()
        assert requests, "the mock upstream received no chat request"
        return requests[-1]

    # called from handler threads
    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def next_reply(self, seen: Seen) -> Reply:
        with self.lock:
            if self.replies:
                return self.replies.popleft()
        return self.default(seen)


def _handler_for(mock: MockUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _seen(self, raw: bytes) -> Seen:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(self.command, parts.path, parse_qs(parts.query), headers, raw)
            mock.record(seen)
            return seen

        def _batch_api(self, seen: Seen) -> bool:
            api: BatchUpstream | GeminiBatchUpstream
            if mock.batches.handles(seen.path):
                api = mock.batches
            elif mock.gemini_batches.handles(seen.path):
                api = mock.gemini_batches
            else:
                return False
            host, port = mock.server.server_address[:2]
            status, kind, data, *more = api.handle(
                seen.method, seen.path, seen.headers, seen.raw, f"http://{host}:{port}", seen.query
            )
            if api.lose_answer == (seen.method, seen.path):
                api.lose_answer = None  # done, but the caller never hears it
                self._drop()
                return True
            if mock.batches.stall_answer == (seen.method, seen.path):
                mock.batches.stall_answer = None  # done; answered once the test says so
                mock.batches.stalled.set()
                mock.batches.unstall.wait(30)
            self.send_response(status)
            for name, value in (more[0] if more else {}).items():
                self.send_header(name, value)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True

        def do_DELETE(self) -> None:
            seen = self._seen(b"")
            if not self._batch_api(seen):
                self._json(404, {"error": {"message": "no such path", "type": "not_found"}})

        def do_GET(self) -> None:
            seen = self._seen(b"")
            if self._batch_api(seen):
                return
            if seen.path.endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": "up-model"}]})
            else:
                self._json(404, {"error": {"message": "no such path", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            seen = self._seen(self.rfile.read(length))
            path = seen.path
            if self._batch_api(seen):
                return
            if mock_media.handles(path):
                self._media(seen)
                return
            try:
                body = seen.body
            except ValueError:
                self._json(400, {"error": {"message": "mock: body is not JSON"}})
                return
            if path.endswith(("/v1/messages", "/v1/messages/count_tokens")) and (
                problem := anthropic_rules.refusal(seen.headers, body)
            ):
                self._json(400, anthropic_rules.error_body(problem))
                return
            if path.endswith("/v1/messages/count_tokens"):
                self._json(200, {"input_tokens": mock.token_count})
            elif path.endswith("/v1/messages"):
                self._chat(seen, body, "anthropic")
            elif path.endswith("/chat/completions"):
                self._chat(seen, body, "openai")
            elif path.endswith("/rerank"):  # vLLM's (Cohere-like) or TEI's (``texts``)
                if "texts" in body and path != "/rerank":  # TEI: /rerank at its root only
                    self._json(404, {"error": "text-embeddings-inference has no " + path})
                    return
                if len(body.get("texts") or []) > 32:  # TEI's default client batch size
                    message = f"batch size {len(body['texts'])} > maximum allowed batch size 32"
                    self._json(413, {"error": message, "error_type": "Validation"})
                    return
                self._json(200, rerank_answer(body))
            elif path.endswith("/embeddings"):
                embed = mock.embedding
                vector = [0.1, 0.2] if embed is None else embed(str(body.get("input")))
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                        "model": body.get("model"),
                        "usage": {"prompt_tokens": 2, "total_tokens": 2},
                    },
                )
            elif path.endswith("/completions"):
                self._json(
                    200,
                    {
                        "id": "cmpl-mock",
                        "object": "text_completion",
                        "model": body.get("model"),
                        "choices": [{"index": 0, "text": "mock", "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
                    },
                )
            else:
                self._json(404, {"error": {"message": f"mock: no such path {path}"}})

        def _media(self, seen: Seen) -> None:
            """OpenAI's images and audio endpoints (``mock_media``)."""
            bearer = seen.headers.get("authorization", "").startswith("Bearer ")
            if not bearer and not seen.headers.get("api-key"):  # Azure's header
                self._json(
                    401, {"error": {"message": "missing key", "type": "invalid_request_error"}}
                )
                return
            kind = seen.headers.get("content-type", "")
            path = seen.path
            try:
                if path.endswith("/images/generations"):
                    self._json(200, mock_media.generations(json.loads(seen.raw)))
                elif path.endswith("/images/edits"):
                    answer, parts = mock_media.edits(kind, seen.raw)
                    seen.parts = parts
                    self._json(200, answer)
                elif path.endswith(("/audio/transcriptions", "/audio/translations")):
                    translation = path.endswith("/translations")
                    media, out = mock_media.transcription(kind, seen.raw, translation)
                    seen.parts = mock_media.form_parts(kind, seen.raw)
                    if isinstance(out, list):
                        self._chunks(media, out, 0.002)
                    else:
                        self._bytes(media, out)
                else:
                    media, pieces = mock_media.speech(json.loads(seen.raw))
                    self._chunks(media, pieces, mock.media_delay)
            except mock_media.Refused as refused:
                self._json(refused.status, refused.body())
            except (ValueError, KeyError) as exc:
                self._json(
                    400, {"error": {"message": f"mock: {exc}", "type": "invalid_request_error"}}
                )

        def _bytes(self, kind: str, data: bytes) -> None:
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _chunks(self, kind: str, pieces: list[bytes], delay: float) -> None:
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for sent, piece in enumerate(pieces):
                    if sent == mock.media_cut_after:
                        self._drop()
                        return
                    self._chunk(piece)
                    mock.media_sent.append(time.monotonic())
                    if delay:
                        time.sleep(delay)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                mock.abandoned.set()

        def _chat(self, seen: Seen, body: dict[str, Any], dialect: str) -> None:
            if dialect == "anthropic" and (problem := anthropic_thinking_problem(body, mock)):
                self._json(400, anthropic_invalid(problem))
                return
            cached = None
            if dialect == "anthropic":
                try:
                    cached = mock.prompt_cache.anthropic(body)
                except TooManyBreakpoints as refused:
                    error = {"type": "invalid_request_error", "message": str(refused)}
                    self._json(400, {"type": "error", "error": error})
                    return
            reply = mock.next_reply(seen)
            if reply.reasoning:
                with mock.lock:
                    mock.issued.add(reply.signature)
            if cached is not None:
                uncached, read, write = cached
                reply = replace(
                    reply, input_tokens=uncached, cached_tokens=read, cache_write_tokens=write
                )
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status >= 400:
                self._json(reply.status, reply.error or {}, reply.headers)
                return
            model = str(body.get("model"))
            if not body.get("stream"):
                data = (
                    openai_json(reply, model)
                    if dialect == "openai"
                    else anthropic_json(reply, model)
                )
                self._json(200, data, reply.headers)
                return
            if dialect == "openai":
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                events, error = openai_events(reply, model, include), openai_error_event
            else:
                events, error = anthropic_events(reply, model), anthropic_error_event
            self._stream(reply, events, error)

        def _stream(self, reply: Reply, events: Iterator[bytes], error) -> None:  # type: ignore[no-untyped-def]
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                for sent, event in enumerate(events):
                    if reply.cut_after is not None and sent == reply.cut_after:
                        self._drop()
                        return
                    if reply.error_after is not None and sent == reply.error_after:
                        self._chunk(error(reply))
                        break
                    if sent and reply.event_delay:
                        time.sleep(reply.event_delay)
                    if reply.split_writes:
                        middle = len(event) // 2 + 1
                        self._chunk(event[:middle])
                        self._chunk(event[middle:])
                    else:
                        self._chunk(event)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                mock.abandoned.set()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _drop(self) -> None:
            """End the connection without the terminating chunk: a broken stream."""
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
            self.wfile.flush()

    return Handler
