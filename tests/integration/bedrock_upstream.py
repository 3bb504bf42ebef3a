"""A mock AWS Bedrock runtime on 127.0.0.1 speaking the Converse API, strict about auth:

- ``POST /model/{modelId}/converse``: a Converse JSON answer;
- ``POST /model/{modelId}/converse-stream``: ``application/vnd.amazon.eventstream``
  binary frames (built by ``tests.aws.frame``: prelude, headers, payload, CRC32s) with
  messageStart, reasoning deltas (+ signature), text deltas, toolUse blocks whose input
  arrives in small string fragments, messageStop, metadata (usage).

More than 4 ``cachePoint`` blocks is a 400 ``ValidationException``; a repeated prefix up
to a cachePoint reports ``cacheReadInputTokens``/``cacheWriteInputTokens``
(``mock_prompt_cache``). Every request's SigV4 signature is recomputed with botocore from the known test
credentials (``tests.aws``) over the method, the path exactly as received, the signed
headers and the body; a mismatch is AWS's 403 ``InvalidSignatureException`` (type in
``x-amzn-ErrorType``, body ``{"message"}``), as is an unknown access key. Tests queue
``BedrockReply`` objects and read ``seen`` (path, headers, JSON body, model id decoded).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.aws import ACCESS_KEY, REGION, SECRET_KEY, event_frame, exception_frame, verify_sigv4
from tests.integration.mock_prompt_cache import PromptCache, TooManyBreakpoints


@dataclass
class ToolUse:
    id: str
    name: str
    input: dict[str, Any]


@dataclass
class BedrockReply:
    text: str = ""
    reasoning: str = ""
    signature: str = "sig-bedrock-mock"
    tool_calls: list[ToolUse] = field(default_factory=list)
    stop_reason: str | None = None  # derived from the content when None
    input_tokens: int = 21
    output_tokens: int = 9
    cache_read: int = 0
    cache_write: int = 0
    status: int = 200
    error_type: str = ""  # with status >= 400: x-amzn-ErrorType
    error_message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    exception_after: int | None = None  # stream: frames sent before an exception frame
    exception_type: str = "modelStreamErrorException"
    cut_after: int | None = None  # stream: frames sent before the connection drops
    piece: int = 4  # characters per streamed fragment

    @classmethod
    def failure(cls, status: int, error_type: str, message: str, **headers: str) -> BedrockReply:
        return cls(
            status=status,
            error_type=error_type,
            error_message=message,
            headers={k.replace("_", "-"): v for k, v in headers.items()},
        )

    def stop(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_calls else "end_turn")

    def usage(self) -> dict[str, int]:
        usage = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens
            + self.output_tokens
            + self.cache_read
            + self.cache_write,
        }
        if self.cache_read:
            usage["cacheReadInputTokens"] = self.cache_read
        if self.cache_write:
            usage["cacheWriteInputTokens"] = self.cache_write
        return usage

    def answer(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if self.reasoning:
            content.append(
                {
                    "reasoningContent": {
                        "reasoningText": {"text": self.reasoning, "signature": self.signature}
                    }
                }
            )
        if self.text:
            content.append({"text": self.text})
        for call in self.tool_calls:
            content.append(
                {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.input}}
            )
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": self.stop(),
            "usage": self.usage(),
            "metrics": {"latencyMs": 120},
        }

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        index = 0
        if self.reasoning:
            for piece in pieces(self.reasoning, self.piece):
                events.append(_delta(index, {"reasoningContent": {"text": piece}}))
            events.append(_delta(index, {"reasoningContent": {"signature": self.signature}}))
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        if self.text:
            for piece in pieces(self.text, self.piece):
                events.append(_delta(index, {"text": piece}))
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for call in self.tool_calls:
            start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
            events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            for piece in pieces(json.dumps(call.input), self.piece):
                events.append(_delta(index, {"toolUse": {"input": piece}}))
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        events.append(("messageStop", {"stopReason": self.stop()}))
        events.append(("metadata", {"usage": self.usage(), "metrics": {"latencyMs": 118}}))
        return events


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "contentBlockDelta", {"contentBlockIndex": index, "delta": delta, "p": "abcdefgh"}


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class Seen:
    path: str  # as received (percent-encoded)
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def model_id(self) -> str:
        return unquote(self.path.split("/")[2])

    @property
    def stream(self) -> bool:
        return self.path.endswith("/converse-stream")


class MockBedrock:
    def __init__(self) -> None:
        self.replies: deque[BedrockReply] = deque()
        self.seen: list[Seen] = []
        self.rejected: list[str] = []  # why signatures failed
        self.prompt_cache = PromptCache()  # Bedrock's: cachePoints limited, usage real
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MockBedrock:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.seen.clear()
            self.rejected.clear()
        self.prompt_cache.clear()

    def queue(self, *replies: BedrockReply) -> None:
        with self._lock:
            self.replies.extend(replies)

    @property
    def last(self) -> Seen:
        return self.seen[-1]

    def next_reply(self) -> BedrockReply:
        with self._lock:
            return (
                self.replies.popleft() if self.replies else BedrockReply(text="Hello from Bedrock!")
            )


def _source_refusal(raw: bytes) -> str | None:
    """What Bedrock says to an image or document whose source is not ``bytes`` or
    ``s3Location`` (a URL, say): Converse has no URL source."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    for message in body.get("messages") or []:
        for block in message.get("content") or []:
            inner = [block, *((block.get("toolResult") or {}).get("content") or [])]
            for item in inner:
                for kind in ("image", "document"):
                    source = (item.get(kind) or {}).get("source") if kind in item else None
                    if source is not None and set(source) - {"bytes", "s3Location"}:
                        return f"The provided {kind} source is invalid: use bytes or s3Location"


def thinking_problem(body: dict[str, Any]) -> str | None:
    """Claude's rule through Converse: with thinking on, a last assistant turn that
    calls tools must open with its reasoning (the signed thinking was lost otherwise)."""
    fields = body.get("additionalModelRequestFields") or {}
    if (fields.get("thinking") or {}).get("type") != "enabled":
        return None
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "assistant":
            continue
        content = message.get("content") or []
        if any("toolUse" in block for block in content) and "reasoningContent" not in content[0]:
            return (
                "The model returned the following errors: messages.1.content.0.type: "
                "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When "
                "`thinking` is enabled, a final `assistant` message must start with a "
                "thinking block."
            )
        return None
    return None


def foreign_reasoning_problem(model: str, body: dict[str, Any]) -> str | None:
    """What Bedrock's non-Claude models (Nova, Llama, Mistral...) answer signed or
    redacted ``reasoningContent`` in the history: only Claude verifies Claude's
    signatures."""
    name = unquote(model).lower()
    if "anthropic." in name or "claude" in name:
        return None
    for message in body.get("messages") or []:
        for block in message.get("content") or []:
            reasoning = block.get("reasoningContent") if isinstance(block, dict) else None
            if not isinstance(reasoning, dict):
                continue
            signed = (reasoning.get("reasoningText") or {}).get("signature")
            if signed or "redactedContent" in reasoning:
                return (
                    f"The model {unquote(model)} does not support signed or redacted "
                    "reasoningContent in messages."
                )
    return None


def rerank_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Bedrock Rerank's answer: ``results`` of ``index`` and ``relevanceScore``."""
    from tests.integration.mock_upstream import rerank_score

    query = body["queries"][0]["textQuery"]["text"]
    texts = [s["inlineDocumentSource"]["textDocument"]["text"] for s in body["sources"]]
    config = body["rerankingConfiguration"]["bedrockRerankingConfiguration"]
    scored = sorted(((i, rerank_score(query, t)) for i, t in enumerate(texts)), key=lambda p: -p[1])
    top = scored[: config.get("numberOfResults") or len(texts)]
    return {"results": [{"index": i, "relevanceScore": score} for i, score in top]}


def _handler_for(mock: MockBedrock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            parts = self.path.split("/")
            if self.path == "/rerank":  # the agent runtime's Rerank, signed like Converse
                problem = self._auth_problem(headers, raw)
                if problem:
                    mock.rejected.append(problem)
                    self._error(403, "InvalidSignatureException", problem)
                    return
                mock.seen.append(Seen(self.path, headers, raw))
                self._json(200, rerank_answer(json.loads(raw)))
                return
            if (
                len(parts) != 4
                or parts[1] != "model"
                or parts[3] not in ("converse", "converse-stream")
            ):
                self._error(404, "UnknownOperationException", "no such operation")
                return
            problem = self._auth_problem(headers, raw)
            if problem:
                mock.rejected.append(problem)
                kind = (
                    "UnrecognizedClientException"
                    if "security token" in problem
                    else "InvalidSignatureException"
                )
                self._error(403, kind, problem)
                return
            refusal = _source_refusal(raw)
            if refusal:  # Converse fetches nothing: media go as bytes or from S3
                self._error(400, "ValidationException", refusal)
                return
            seen = Seen(self.path, headers, raw)
            mock.seen.append(seen)
            if problem := thinking_problem(seen.body) or foreign_reasoning_problem(
                parts[2], seen.body
            ):
                self._error(400, "ValidationException", problem)
                return
            try:
                cached = mock.prompt_cache.bedrock(seen.body)
            except TooManyBreakpoints as refused:
                message = str(refused).replace("blocks with cache_control", "cachePoint blocks")
                self._error(400, "ValidationException", message)
                return
            reply = mock.next_reply()
            if cached is not None:
                uncached, read, write = cached
                reply = replace(reply, input_tokens=uncached, cache_read=read, cache_write=write)
            if reply.status >= 400:
                self._error(reply.status, reply.error_type, reply.error_message, reply.headers)
            elif seen.stream:
                self._stream(reply)
            else:
                self._json(200, reply.answer())

        def _auth_problem(self, headers: dict[str, str], raw: bytes) -> str | None:
            authorization = headers.get("authorization", "")
            if f"Credential={ACCESS_KEY}/" not in authorization:
                return "The security token included in the request is invalid."
            url = f"http://{headers.get('host', '')}{self.path}"
            return verify_sigv4("POST", url, headers, raw, secret_key=SECRET_KEY, region=REGION)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-amzn-RequestId", "7f1c0a2e-mock-request")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(
            self, status: int, kind: str, message: str, headers: dict[str, str] | None = None
        ) -> None:
            self._json(
                status,
                {"message": message},
                {
                    "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                    **(headers or {}),
                },
            )

        def _stream(self, reply: BedrockReply) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/vnd.amazon.eventstream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for n, (name, payload) in enumerate(reply.events()):
                if reply.cut_after is not None and n >= reply.cut_after:
                    self.wfile.flush()
                    self.connection.shutdown(2)  # no terminating chunk: a real cut
                    return
                if reply.exception_after is not None and n >= reply.exception_after:
                    self._chunk(exception_frame(reply.exception_type, "The model stream failed."))
                    break
                self._chunk(event_frame(name, payload))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
