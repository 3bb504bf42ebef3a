"""One sample request for every declared endpoint (``gateway.base.endpoints.ENDPOINTS``)
and the mock upstream that answers each, shared by the matrices that cross every
endpoint with a policy: the guardrails (``tests/gateway/features/guardrails/
test_endpoint_matrix.py``) and every other policy (``tests/gateway/core/
test_policy_matrix.py``). A declared endpoint without a sample here fails both; an
endpoint the edge serves without a declaration fails ``undeclared()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from gateway.access import registry
from gateway.base import hooks
from gateway.base.entries import GuardrailEntry, ProviderEntry, RouteEntry
from gateway.codecs.openai_media import forms
from gateway.core import jobs
from gateway.edge import dialects
from gateway.features.passthrough import paths
from tests.gateway.entries import route, snapshot

GEMINI = ProviderEntry(2, "gemini", "gemini", "http://mock/v1beta", "k", {}, "", None)
# passthrough is off until the operator turns it on for a provider
OPEN = ProviderEntry(
    3, "mock-open", "openai", "http://mock/v1", "", {}, "", None, settings={"passthrough": "on"}
)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)


@dataclasses.dataclass
class Sample:
    """One request to an endpoint: its dialect, the body carrying ``text`` (the
    headers of a form), and the route's deployment (its mode, its provider)."""

    dialect: str
    body: Callable[[str], tuple[bytes, dict[str, str]]]
    mode: str = ""
    provider: ProviderEntry | None = None
    endpoint: str = ""  # the call's endpoint, when not the declaration's name
    upstream: bool = True  # the request reaches an upstream (else answered here)
    form: bool = False  # a multipart form (its tags come from the header or the key)
    # what the path carries besides the body (``service.handle``'s path fields)
    path_fields: dict[str, Any] | None = None
    # the body goes upstream as it came (a passthrough): its tags come from the header
    # or the key, never from the vendor's own ``metadata``
    verbatim: bool = False


def as_json(make: Callable[[str], dict[str, Any]]) -> Callable[[str], tuple[bytes, dict[str, str]]]:
    return lambda text: (orjson.dumps(make(text)), {})


def as_form(
    fields: Callable[[str], list[tuple[str, str]]], file: tuple[str, str, str, bytes]
) -> Callable[[str], tuple[bytes, dict[str, str]]]:
    def make(text: str) -> tuple[bytes, dict[str, str]]:
        body = forms.encode(fields(text), [file], "matrix-boundary")
        return body, {"content-type": "multipart/form-data; boundary=matrix-boundary"}

    return make


def _chat(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": f"say {text}"}]}


def _gemini_image(text: str) -> dict[str, Any]:
    return {
        "model": "m",
        "contents": [{"role": "user", "parts": [{"text": f"draw {text}"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }


def passthrough(method: str, path: str) -> dict[str, Any]:
    """The path fields of a passthrough request to the OpenAI-compatible mock
    (``/openai/{path}``, as the edge reads them off the request line)."""
    return {paths.TARGET: paths.Target("openai", method, path, "")}


PNG = ("image", "a.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(16))
AUDIO = ("file", "a.wav", "audio/wav", WAV)

SAMPLES: dict[str, Sample] = {
    "chat": Sample("openai", as_json(_chat)),
    "compact": Sample("responses", as_json(lambda t: {"model": "m", "input": f"we said {t}"})),
    "count_tokens": Sample("anthropic", as_json(_chat), upstream=False),
    "input_tokens": Sample(
        "responses", as_json(lambda t: {"model": "m", "input": f"count {t}"}), upstream=False
    ),
    "prepare": Sample(
        "responses",
        as_json(lambda t: {"model": "m", "input": f"hi {t}", "store": False}),
        upstream=False,
    ),  # fmt: skip
    "completions": Sample("openai", as_json(lambda t: {"model": "m", "prompt": f"say {t}"})),
    "embeddings": Sample("openai", as_json(lambda t: {"model": "m", "input": [f"say {t}"]})),
    "rerank": Sample(
        "openai",
        as_json(lambda t: {"model": "m", "query": "q", "documents": ["a", {"text": f"b {t}"}]}),
    ),
    "image_generation": Sample(
        "openai", as_json(lambda t: {"model": "m", "prompt": f"draw {t}"}), "image_generation"
    ),
    "image_edit": Sample(
        "openai",
        as_form(lambda t: [("model", "m"), ("prompt", f"paint {t}")], PNG),
        "image_generation",
        form=True,
    ),
    "transcription": Sample(
        "openai",
        as_form(lambda t: [("model", "m"), ("prompt", f"about {t}")], AUDIO),
        "audio_transcription",
        form=True,
    ),
    "translation": Sample(
        "openai",
        as_form(lambda t: [("model", "m"), ("prompt", f"about {t}")], AUDIO),
        "audio_transcription",
        form=True,
    ),
    "speech": Sample(
        "openai",
        as_json(lambda t: {"model": "m", "input": f"read {t}", "voice": "alloy"}),
        "audio_speech",
    ),
    "realtime_client_secret": Sample(
        "openai",
        as_json(lambda t: {"session": {"type": "realtime", "model": "m", "instructions": t}}),
    ),
    "gemini_images": Sample("gemini", as_json(_gemini_image), "image_generation", endpoint="chat"),
    "gemini_native_images": Sample(
        "gemini", as_json(_gemini_image), "image_generation", GEMINI, endpoint="chat"
    ),
    # a vendor's chat body through /openai/v1/chat/completions: read as a chat request
    "passthrough": Sample(
        "openai",
        as_json(_chat),
        provider=OPEN,
        endpoint="passthrough",
        path_fields=passthrough("POST", "/v1/chat/completions"),
        verbatim=True,
    ),
    # a body of no shape the gateway reads (an upload's part)
    "passthrough_opaque": Sample(
        "openai",
        lambda t: (f"notes on {t}".encode(), {"content-type": "text/plain"}),
        provider=OPEN,
        endpoint="passthrough",
        path_fields=passthrough("POST", "/v1/uploads/up_1/parts"),
        verbatim=True,
    ),
}


def _realtime_text(text: str) -> str:
    part = {"type": "input_text", "text": f"say {text}"}
    item = {"type": "message", "role": "user", "content": [part]}
    return orjson.dumps({"type": "conversation.item.create", "item": item}).decode()


def _live_text(text: str) -> str:
    turn = {"role": "user", "parts": [{"text": f"say {text}"}]}
    # google-genai's spelling: the message's name in snake_case, its fields in camelCase
    return orjson.dumps({"client_content": {"turns": [turn], "turnComplete": True}}).decode()


# a socket's client event carrying ``text``, checked by its relay guard (the relays
# themselves: tests/gateway/edge/test_realtime_socket.py, tests/integration/
# test_sdk_gemini_live.py)
SOCKETS: dict[str, Callable[[str], str]] = {"realtime": _realtime_text, "gemini_live": _live_text}


def answer(request: httpx.Request) -> httpx.Response:
    """The mock upstream's answer to each endpoint's upstream call (every text in it
    says "fine")."""
    path = request.url.path
    if path.endswith("/chat/completions"):
        return httpx.Response(
            200,
            json={
                "id": "c1", "object": "chat.completion", "created": 1, "model": "up",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "a fine answer"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            },
        )  # fmt: skip
    if path.endswith("/completions"):
        return httpx.Response(
            200,
            json={"id": "t1", "object": "text_completion", "model": "up",
                  "choices": [{"index": 0, "text": "fine", "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 2, "completion_tokens": 1}},
        )  # fmt: skip
    if path.endswith("/embeddings"):
        return httpx.Response(
            200,
            json={"object": "list", "model": "up",
                  "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                  "usage": {"prompt_tokens": 2, "total_tokens": 2}},
        )  # fmt: skip
    if path.endswith("/realtime/client_secrets"):
        session = orjson.loads(request.content)["session"]
        return httpx.Response(200, json={"value": "ek_matrix", "expires_at": 4102444800,
                                         "session": session})  # fmt: skip
    if path.endswith("/rerank"):
        return httpx.Response(200, json={"results": [{"index": 1, "relevance_score": 0.9}]})
    if path.endswith(("/images/generations", "/images/edits")):
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": "aGk="}]})
    if path.endswith(("/audio/transcriptions", "/audio/translations")):
        return httpx.Response(200, json={"text": "hello"})
    if path.endswith("/parts"):  # an upload's part (a passthrough request)
        return httpx.Response(200, json={"id": "part_1", "object": "upload.part"})
    if path.endswith("/audio/speech"):
        return httpx.Response(200, headers={"content-type": "audio/mpeg"}, content=b"ID3audio")
    if ":generateContent" in path:
        return httpx.Response(
            200,
            json={"candidates": [{"content": {"role": "model", "parts": [
                {"inlineData": {"mimeType": "image/png", "data": "aGk="}}]},
                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
        )  # fmt: skip
    return httpx.Response(404, json={"error": {"message": f"no {path}"}})


def sample_route(sample: Sample, name: str = "m") -> RouteEntry:
    """The route ``name`` a sample's request is answered by: one deployment of the
    sample's mode and provider, no retries."""
    made = route(name, "up-model", max_attempts=1, provider=sample.provider)
    if sample.mode:
        deployments = tuple(
            dataclasses.replace(d, params={"mode": sample.mode}) for d in made.deployments
        )
        made = dataclasses.replace(made, deployments=deployments)
    return made


def install(sample: Sample, *guards: GuardrailEntry) -> None:
    snap = snapshot(sample_route(sample))
    snap.guardrails = {g.name: g for g in guards}
    snap.default_guardrails = tuple(g.name for g in guards if g.default_on)
    registry.install(snap)


# --- what the edge serves ----------------------------------------------------------------


# where the gateway's API lives: a path under one of these is an endpoint, and must be
# declared (``gateway.base.endpoints``: ENDPOINTS or RESOURCES)
# (and the passthrough prefixes: /{vendor}/ and /{vendor}_passthrough/)
PASSTHROUGH_PATHS = tuple(
    f"/{prefix}{suffix}/" for prefix in sorted(paths.PREFIXES) for suffix in ("", paths.SUFFIX)
)
API_PATHS = ("/v1/", "/v1beta/", "/v2/", "/anthropic/", "/openai/", "/mcp/", *PASSTHROUGH_PATHS)
# a path under each prefix, for the rows that say they serve none of them
PROBE_PATHS = (
    "/v1/x", "/v1beta/x", "/v2/x", "/anthropic/v1/x", "/openai/v1/x", "/mcp", "/mcp/x",
    "/bedrock/x", "/mistral_passthrough/x",
)  # fmt: skip


def is_api_path(path: str) -> bool:
    path = "/" + path.lstrip("/^").rstrip("$")
    return path == "/mcp" or path.startswith(API_PATHS) or path in dialects.POST_ROUTES


def served() -> set[str]:
    """The declarations the gateway serves, derived from everything that serves a
    request: each row of the edge's route table (``gateway.edge.endpoints.routes()``: the
    POST table, the Gemini methods, listings, stored objects, conversations, files and
    batches, signed links, ``/mcp``), the pipeline's jobs and the features'
    (``hooks.endpoint_jobs``), the API's WebSockets (``gateway.server.asgi.API_SOCKETS``) and
    the whole URL conf. An API path that no declaration names is in the answer under a
    name no declaration has: a Django URL or console socket under an API prefix
    (``django:<route>``, ``socket:<route>``: the edge answers those paths before Django,
    so nothing there is declared), a route-table row that serves an API path but names
    no declaration (``row:<name>``)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from console import routing
    from gateway.edge import endpoints as edge
    from gateway.server import asgi

    names: set[str] = set()
    for row in edge.routes():
        names |= row.serves()
        if not row.serves() and any(
            row.match({"headers": []}, method, path)
            for path in PROBE_PATHS
            for method in ("GET", "POST", "DELETE")
        ):
            names.add(f"row:{row.name}")
    names |= set(jobs.JOBS) | {name for name, _ in hooks.endpoint_jobs.items()}
    for declarations in asgi.API_SOCKETS.values():
        names |= set(declarations)
    names |= {job.declared_as for job in _job_classes() if job.declared_as}

    def walk(patterns: Any, prefix: str, tag: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route, tag)
            elif isinstance(p, URLPattern) and is_api_path(route):
                names.add(f"{tag}:{route}")

    walk(get_resolver().url_patterns, "", "django")
    walk(routing.websocket_urlpatterns, "", "socket")
    return names


def _job_classes() -> set[type[jobs.Job]]:
    found: set[type[jobs.Job]] = set()
    todo: list[type[jobs.Job]] = [jobs.Job]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found
