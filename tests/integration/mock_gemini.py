"""A scriptable mock of Google's Gemini API and Vertex AI on 127.0.0.1, strict where the
real services are strict:

- Gemini API: ``POST /v1beta/models/{model}:generateContent``,
  ``:streamGenerateContent?alt=sse`` (one ``GenerateContentResponse`` chunk per SSE
  event), ``:countTokens``, ``GET /v1beta/models`` and ``GET /v1beta/models/{model}``; the key must arrive in
  ``x-goog-api-key`` (else 400 INVALID_ARGUMENT / API_KEY_INVALID, as Gemini answers).
- Vertex AI: the same methods under ``/v1/projects/{p}/locations/{l}/publishers/google/
  models/{model}``; only a bearer token this mock issued and that has not expired passes
  (else 401 UNAUTHENTICATED).
- OAuth: ``POST /token`` takes a JWT-bearer grant, verifies the assertion's RS256
  signature with the registered service account's public key and its claims (issuer,
  audience, scope, expiry), and issues a token valid ``token_lifetime`` seconds.
- Thought signatures: every function call it answers with is signed (a fresh base64
  signature with ``+``, ``/`` and ``=`` in it, on the first call of each answer, as
  Gemini 3 does for parallel calls); a later request whose history has that call
  without its exact signature, or with a signature it never issued, gets Gemini's 400;
  for ``gemini-3*`` models a model turn whose calls carry no signature at all is a 400
  too, unless it has Google's placeholder (accepted only for calls it never issued).
  Function-response turns must answer as many calls as the call turn made.
- Per model (``tests.google_rules``): a sampling parameter a model refuses
  (``temperature`` on ``gemini-3.7-flash``...) is a 400 INVALID_ARGUMENT, as Google
  answers it, on generateContent, its stream and countTokens alike.

Tests queue ``GReply`` objects and read ``seen`` (path, query, headers, JSON body).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests import google_rules

PLACEHOLDER = "skip_thought_signature_validator"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# The audience Google's token endpoint expects in a JWT-bearer assertion (google-auth
# writes it whatever the token_uri; the mock accepts its own URI too).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass
class GReply:
    text: str = ""
    thinking: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish: str = "STOP"
    prompt_tokens: int = 21
    output_tokens: int = 9
    thought_tokens: int = 0
    cached_tokens: int = 0
    status: int = 200
    error: dict[str, Any] | None = None  # {"code", "message", "status"}
    error_after: int | None = None  # SSE chunks before an in-stream error
    piece: int = 4


@dataclass
class GSeen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def new_service_account(token_uri: str, project: str = "proj-mock") -> tuple[dict[str, Any], Any]:
    """A service-account JSON (as Google issues them) with a fresh RSA key, and the
    public key that verifies its assertions."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"switchyard-test@{project}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    return info, key.public_key()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MockGemini:
    def __init__(self, api_key: str = "AIza-mock-gemini-key-0123456789") -> None:
        self.api_key = api_key
        self.replies: deque[GReply] = deque()
        self.seen: list[GSeen] = []
        self.signatures: dict[str, tuple[str, str]] = {}  # signature -> (name, args JSON)
        self.accounts: dict[str, Any] = {}  # client_email -> public key
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.token_requests = 0
        self.token_lifetime = 3600
        self.token_failure: dict[str, Any] | None = None
        self.token_delay = 0.0  # seconds the token endpoint takes
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ------------------------------------------------------------------------
    def start(self) -> MockGemini:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                mock._handle(self, "GET")

            def do_POST(self) -> None:
                mock._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def service_account(self, project: str = "proj-mock") -> dict[str, Any]:
        info, public = new_service_account(self.token_uri, project)
        self.accounts[info["client_email"]] = public
        return info

    def queue(self, *replies: GReply) -> None:
        self.replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.seen.clear()
            self.signatures.clear()
            self.token_requests = 0
            self.token_failure = None
            self.token_delay = 0.0
            self.token_lifetime = 3600

    @property
    def chats(self) -> list[GSeen]:
        return [s for s in self.seen if "Content" in s.path]

    @property
    def last(self) -> GSeen:
        return self.chats[-1]

    # -- HTTP ---------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        seen = GSeen(
            method,
            split.path,
            parse_qs(split.query),
            {k.lower(): v for k, v in handler.headers.items()},
            raw,
        )
        with self._lock:
            self.seen.append(seen)
        path = split.path
        if path == "/token":
            return self._token(handler, raw)
        if path.startswith("/v1beta/"):
            if seen.headers.get("x-goog-api-key") != self.api_key:
                return self._json(handler, 400, _api_key_invalid())
            rest = path.removeprefix("/v1beta/")
        elif path.startswith("/v1/projects/"):
            if not self._valid_token(seen.headers.get("authorization", "")):
                return self._json(handler, 401, _unauthenticated())
            rest = "models/" + path.split("/publishers/google/models/", 1)[-1]
        else:
            return self._json(handler, 404, _status(404, "NOT_FOUND", f"no route {path}"))
        if method == "GET" and rest == "models":
            return self._json(handler, 200, _models())
        if method == "GET" and rest.startswith("models/") and ":" not in rest:
            found = [m for m in _models()["models"] if m["name"] == rest]
            if not found:
                return self._json(handler, 404, _status(404, "NOT_FOUND", f"no model {rest}"))
            return self._json(handler, 200, found[0])
        model, _, verb = rest.removeprefix("models/").partition(":")
        body = seen.body if raw else {}
        if verb not in ("generateContent", "streamGenerateContent", "countTokens"):
            return self._json(handler, 404, _status(404, "NOT_FOUND", f"no method {verb}"))
        request = body.get("generateContentRequest", body) if verb == "countTokens" else body
        if problem := google_rules.refusal(model, request.get("generationConfig")):
            return self._json(handler, 400, _status(400, "INVALID_ARGUMENT", problem))
        if verb == "countTokens":
            return self._json(handler, 200, {"totalTokens": _count(request)})
        if problem := self._check_history(body, model):
            return self._json(handler, 400, _status(400, "INVALID_ARGUMENT", problem))
        with self._lock:
            reply = self.replies.popleft() if self.replies else GReply(text="Hi from Gemini.")
        if reply.status >= 400:
            error = reply.error or _status(reply.status, "INTERNAL", "mock failure")["error"]
            return self._json(handler, reply.status, {"error": error})
        config = body.get("generationConfig") or {}
        if "IMAGE" in (config.get("responseModalities") or []):
            if "image" not in model:  # as Gemini refuses image output of a text model
                problem = "The requested combination of response modalities is not supported"
                return self._json(handler, 400, _status(400, "INVALID_ARGUMENT", problem))
            if verb == "generateContent":
                return self._json(handler, 200, _image_answer(body, model))
        if verb == "generateContent":
            return self._json(handler, 200, self._answer(reply, model))
        if seen.query.get("alt") != ["sse"]:
            return self._json(handler, 400, _status(400, "INVALID_ARGUMENT", "mock wants alt=sse"))
        self._stream(handler, reply, model)

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # -- OAuth --------------------------------------------------------------------------
    def _token(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        with self._lock:
            self.token_requests += 1
        time.sleep(self.token_delay)
        if self.token_failure is not None:
            return self._json(handler, 400, self.token_failure)
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._json(handler, 400, {"error": "unsupported_grant_type"})
        try:
            claims = self._verify(form.get("assertion", ""))
        except ValueError as exc:
            return self._json(
                handler, 400, {"error": "invalid_grant", "error_description": str(exc)}
            )
        token = "ya29.mock-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = time.time() + self.token_lifetime
        self._json(
            handler,
            200,
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"},
        )
        del claims

    def _verify(self, assertion: str) -> dict[str, Any]:
        try:
            head_b64, payload_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, json.JSONDecodeError) as exc:
            raise ValueError("Invalid JWT") from exc
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT algorithm")
        public = self.accounts.get(claims.get("iss"))
        if public is None:
            raise ValueError("Invalid JWT: unknown issuer")
        try:
            public.verify(
                signature,
                f"{head_b64}.{payload_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        now = time.time()
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            raise ValueError("Invalid JWT: bad audience")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise ValueError("Invalid JWT: scope missing")
        if not claims.get("exp") or claims["exp"] < now or claims.get("iat", 0) > now + 300:
            raise ValueError("Invalid JWT: Token must be a short-lived token")
        return claims

    def _valid_token(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        expiry = self.tokens.get(token) if scheme == "Bearer" else None
        return expiry is not None and expiry > time.time()

    # -- thought signatures -------------------------------------------------------------
    def _check_history(self, body: dict[str, Any], model: str) -> str | None:
        contents = body.get("contents") or []
        for i, turn in enumerate(contents):
            parts = turn.get("parts") or []
            calls = [p for p in parts if "functionCall" in p]
            unsigned = calls and not any("thoughtSignature" in p for p in calls)
            if unsigned and model.startswith("gemini-3"):
                return (
                    f"Function call `{calls[0]['functionCall'].get('name')}` in the {i + 1}. "
                    "content block is missing a `thought_signature`."
                )
            for part in calls:
                call = part["functionCall"]
                key = (call.get("name"), json.dumps(call.get("args") or {}, sort_keys=True))
                sig = part.get("thoughtSignature")
                issued = [s for s, k in self.signatures.items() if k == key]
                if sig == PLACEHOLDER and not issued:
                    continue  # Google's documented placeholder for foreign history
                if sig is not None and sig not in self.signatures:
                    return "Corrupted thought signature."
                if issued and sig not in issued:
                    return (
                        f"Function call `{call.get('name')}` in the {i + 1}. content block is "
                        "missing a `thought_signature`."
                    )
            if calls:
                following = contents[i + 1] if i + 1 < len(contents) else None
                answers = [p for p in (following or {}).get("parts", []) if "functionResponse" in p]
                if following is not None and len(answers) != len(calls):
                    return (
                        "Please ensure that the number of function response parts is equal to "
                        "the number of function call parts of the function call turn."
                    )
        return None

    def _signature(self, name: str, args: dict[str, Any]) -> str:
        while True:  # 34 bytes: ends in "=="; retried until "+" and "/" appear too
            sig = base64.b64encode(secrets.token_bytes(34)).decode()
            if "+" in sig and "/" in sig:
                break
        with self._lock:
            self.signatures[sig] = (name, json.dumps(args, sort_keys=True))
        return sig

    # -- answers ------------------------------------------------------------------------
    def _call_parts(self, reply: GReply) -> list[dict[str, Any]]:
        parts = []
        for n, (name, args) in enumerate(reply.calls):
            part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
            if n == 0:
                part["thoughtSignature"] = self._signature(name, args)
            parts.append(part)
        return parts

    @staticmethod
    def _usage(reply: GReply, final: bool = True) -> dict[str, Any]:
        usage = {"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens}
        if reply.cached_tokens:
            usage["cachedContentTokenCount"] = reply.cached_tokens
        if final:
            usage["candidatesTokenCount"] = reply.output_tokens
            usage["totalTokenCount"] += reply.output_tokens + reply.thought_tokens
            if reply.thought_tokens:
                usage["thoughtsTokenCount"] = reply.thought_tokens
        return usage

    def _answer(self, reply: GReply, model: str) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if reply.thinking:
            parts.append({"text": reply.thinking, "thought": True})
        if reply.text:
            parts.append({"text": reply.text})
        parts.extend(self._call_parts(reply))
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": reply.finish,
                    "index": 0,
                }
            ],
            "usageMetadata": self._usage(reply),
            "modelVersion": model,
            "responseId": secrets.token_urlsafe(9),
        }

    def _stream(self, handler: BaseHTTPRequestHandler, reply: GReply, model: str) -> None:
        response_id = secrets.token_urlsafe(9)
        chunks: list[list[dict[str, Any]]] = []
        for i in range(0, len(reply.thinking), reply.piece):
            chunks.append([{"text": reply.thinking[i : i + reply.piece], "thought": True}])
        for i in range(0, len(reply.text), reply.piece):
            chunks.append([{"text": reply.text[i : i + reply.piece]}])
        final = self._call_parts(reply)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()

        def send(payload: dict[str, Any]) -> None:
            handler.wfile.write(b"data: " + json.dumps(payload).encode() + b"\r\n\r\n")
            handler.wfile.flush()

        def chunk(parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            if last:
                candidate["finishReason"] = reply.finish
            return {
                "candidates": [candidate],
                "usageMetadata": self._usage(reply, final=last),
                "modelVersion": model,
                "responseId": response_id,
            }

        for sent, parts in enumerate(chunks):
            if reply.error_after is not None and sent >= reply.error_after:
                send({"error": reply.error or _status(503, "UNAVAILABLE", "overloaded")["error"]})
                handler.close_connection = True
                return
            send(chunk(parts, last=False))
        send(chunk(final, last=True))
        handler.close_connection = True


def _status(code: int, name: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": name}}


def _api_key_invalid() -> dict[str, Any]:
    payload = _status(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
    payload["error"]["details"] = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    ]
    return payload


def _unauthenticated() -> dict[str, Any]:
    return _status(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token.",
    )


def _models() -> dict[str, Any]:
    return {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            },
            {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
        ]
    }


def _count(request: dict[str, Any]) -> int:
    """A deterministic count: one token per 4 characters of text, at least one."""
    text = json.dumps(request.get("contents", [])) + json.dumps(
        request.get("systemInstruction", {})
    )
    return max(len(text) // 4, 1)


# A 1x1 PNG, the image an image model draws.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def _image_answer(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An image model's answer: a line of text and one image (``inlineData``); input
    images must be valid base64 with an image media type."""
    for content in body.get("contents") or []:
        for part in content.get("parts") or []:
            inline = part.get("inlineData")
            if inline is not None:
                if not str(inline.get("mimeType", "")).startswith("image/"):
                    raise ValueError("inlineData without an image mimeType")
                base64.b64decode(inline["data"], validate=True)
    parts = [
        {"text": "Here is your image."},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
    ]
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {
            "promptTokenCount": 12,
            "candidatesTokenCount": 1290,
            "totalTokenCount": 1302,
        },
        "modelVersion": model,
    }
