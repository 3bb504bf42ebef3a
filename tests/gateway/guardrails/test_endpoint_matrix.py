"""Every declared endpoint (``gateway.base.endpoints.ENDPOINTS``) crossed with the
guardrail policies, built from the declaration: a ``default_on`` pre_call guardrail
blocks a request carrying its word with nothing sent upstream (the control: the same
request without the word is answered, through the mock upstream where it has one), a
masking one rewrites what the upstream gets, and a post_call guardrail either reads the
answer or refuses the request, naming itself. An endpoint the gateway serves that is not
declared fails ``test_every_served_endpoint_is_declared`` (shown by serving one more);
a declared endpoint with no sample here fails ``test_every_declared_endpoint_has_a_sample``.

The Realtime socket's samples drive its relay guard (``gateway.guardrails.realtime``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.base import endpoints, hooks, http
from gateway.base.endpoints import TEXT, UNREADABLE, Endpoint
from gateway.base.entries import MASTER, GuardrailEntry, ProviderEntry
from gateway.codecs.openai_media import forms
from gateway.core import jobs, service
from gateway.core.call import StreamReply
from gateway.edge import dialects, realtime_socket
from gateway.errors import GuardrailBlocked
from gateway.guardrails import realtime as realtime_guard
from gateway.policy import registry
from tests.gateway.entries import route, snapshot

WORD = "forbidden"
EMAIL = "a@b.co"
BLOCKING = {"blocked_words": [{"keyword": WORD, "action": "BLOCK"}]}
MASKING = {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}
GEMINI = ProviderEntry(2, "gemini", "gemini", "http://mock/v1beta", "k", {}, "", None)
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


def as_json(make: Callable[[str], dict[str, Any]]) -> Callable[[str], tuple[bytes, dict[str, str]]]:
    return lambda text: (orjson.dumps(make(text)), {})


def as_form(fields: Callable[[str], list[tuple[str, str]]], file: tuple[str, str, str, bytes]):
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


SAMPLES: dict[str, Sample] = {
    "chat": Sample("openai", as_json(_chat)),
    "compact": Sample("responses", as_json(lambda t: {"model": "m", "input": f"we said {t}"})),
    "count_tokens": Sample("anthropic", as_json(_chat), upstream=False),
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
        as_form(
            lambda t: [("model", "m"), ("prompt", f"paint {t}")],
            ("image", "a.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(16)),
        ),
        "image_generation",
    ),  # fmt: skip
    "transcription": Sample(
        "openai",
        as_form(
            lambda t: [("model", "m"), ("prompt", f"about {t}")],
            ("file", "a.wav", "audio/wav", WAV),
        ),
        "audio_transcription",
    ),  # fmt: skip
    "translation": Sample(
        "openai",
        as_form(
            lambda t: [("model", "m"), ("prompt", f"about {t}")],
            ("file", "a.wav", "audio/wav", WAV),
        ),
        "audio_transcription",
    ),  # fmt: skip
    "speech": Sample(
        "openai",
        as_json(lambda t: {"model": "m", "input": f"read {t}", "voice": "alloy"}),
        "audio_speech",
    ),
    "gemini_images": Sample("gemini", as_json(_gemini_image), "image_generation", endpoint="chat"),
    "gemini_native_images": Sample(
        "gemini", as_json(_gemini_image), "image_generation", GEMINI, endpoint="chat"
    ),
}


def _realtime_text(text: str) -> str:
    part = {"type": "input_text", "text": f"say {text}"}
    item = {"type": "message", "role": "user", "content": [part]}
    return orjson.dumps({"type": "conversation.item.create", "item": item}).decode()


# a socket's client event carrying ``text``, checked by its relay guard (the relay itself:
# tests/gateway/edge/test_realtime_socket.py)
SOCKETS: dict[str, Callable[[str], str]] = {"realtime": _realtime_text}


def _answer(request: httpx.Request) -> httpx.Response:
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
    if path.endswith("/rerank"):
        return httpx.Response(200, json={"results": [{"index": 1, "relevance_score": 0.9}]})
    if path.endswith(("/images/generations", "/images/edits")):
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": "aGk="}]})
    if path.endswith(("/audio/transcriptions", "/audio/translations")):
        return httpx.Response(200, json={"text": "hello"})
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


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    monkeypatch.setattr(journal, "record", lambda record: None)
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return _answer(request)

    http.use_transport(httpx.MockTransport(handler))
    yield seen
    http.use_transport(None)


def install(sample: Sample, *guards: GuardrailEntry) -> None:
    made = route("m", "up-model", max_attempts=1, provider=sample.provider)
    if sample.mode:
        deployments = tuple(
            dataclasses.replace(d, params={"mode": sample.mode}) for d in made.deployments
        )
        made = dataclasses.replace(made, deployments=deployments)
    snap = snapshot(made)
    snap.guardrails = {g.name: g for g in guards}
    snap.default_guardrails = tuple(g.name for g in guards if g.default_on)
    registry.install(snap)


def guard(name: str, modes: tuple[str, ...], params: dict[str, Any]) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(name)) % 100000,
        name=name,
        kind="litellm_content_filter",
        modes=frozenset(modes),
        params=params,
        default_on=True,
    )


async def call(name: str, text: str) -> tuple[int, bytes]:
    sample = SAMPLES[name]
    raw, headers = sample.body(text)
    reply = await service.handle(
        sample.endpoint or name, sample.dialect, raw, headers, service.Caller(key=MASTER)
    )
    if isinstance(reply, StreamReply):
        body = b"".join([chunk async for chunk in reply.chunks])
        return reply.status, body
    return reply.status, reply.body


HTTP = sorted(name for name, e in endpoints.ENDPOINTS.items() if not e.socket)


def test_every_declared_endpoint_has_a_sample():
    """A new endpoint is covered the day it is declared: it needs a sample here."""
    assert set(endpoints.ENDPOINTS) == set(SAMPLES) | set(SOCKETS)
    assert {n for n, e in endpoints.ENDPOINTS.items() if e.socket} == set(SOCKETS)


def served() -> set[str]:
    """The endpoints the edge serves: its POST table, the Gemini methods, the
    pipeline's jobs and the features' (``hooks.endpoint_jobs``), and the sockets."""
    names = {endpoint for endpoint, _ in dialects.POST_ROUTES.values()}
    names |= {endpoint for endpoint, _ in dialects.GEMINI_METHODS.values()}
    names |= set(jobs.JOBS) | {name for name, _ in hooks.endpoint_jobs.items()}
    names |= {"realtime"} if realtime_socket.PATHS else set()
    declared_as = {
        job.declared_as
        for job in _job_classes()
        if getattr(job, "declared_as", "")  # a job answering for another declaration
    }
    return names | declared_as


def _job_classes() -> set[type]:
    found: set[type] = set()
    todo: list[type] = [jobs.Job]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def undeclared() -> set[str]:
    return served() - set(endpoints.ENDPOINTS)


def test_every_served_endpoint_is_declared(monkeypatch: pytest.MonkeyPatch):
    assert undeclared() == set()
    # a new endpoint served without a declaration is caught
    monkeypatch.setitem(dialects.POST_ROUTES, "/v1/new/thing", ("new_thing", "openai"))
    assert undeclared() == {"new_thing"}


async def test_an_undeclared_endpoint_with_a_guardrail_is_refused_not_skipped(upstream):
    """A job nobody declared, reached with a guardrail applying: 400 naming it."""
    seen = upstream

    class NewJob(jobs._Embeddings):
        declared_as = "new_thing"
        multipart = False

    install(SAMPLES["embeddings"], guard("words", ("pre_call",), BLOCKING))
    hooks.endpoint_jobs.register("new_thing", NewJob)
    try:
        raw, _ = SAMPLES["embeddings"].body("hello")
        reply = await service.handle("new_thing", "openai", raw, {}, service.Caller(key=MASTER))
    finally:
        hooks.endpoint_jobs._entries.pop("new_thing")
        NewJob.declared_as = ""  # (its class outlives the test: served() reads subclasses)
    assert reply.status == 400 and seen == []
    error = orjson.loads(reply.body)["error"]
    assert "'words'" in error["message"] and error["code"] == "guardrail_not_applicable"


@pytest.mark.django_db
@pytest.mark.parametrize("name", HTTP)
async def test_a_default_on_pre_call_guardrail_blocks_every_endpoint(name: str, upstream):
    seen = upstream
    sample = SAMPLES[name]
    install(sample, guard("words", ("pre_call",), BLOCKING))
    status, body = await call(name, "nothing bad")  # the control: the path is live
    assert status == 200, body[:300]
    assert bool(seen) == sample.upstream
    seen.clear()
    status, body = await call(name, WORD)
    assert status == 400, body[:300]
    assert seen == []  # nothing reached the upstream
    assert b"guardrail 'words' blocked the request" in body


@pytest.mark.django_db
@pytest.mark.parametrize("name", [n for n in HTTP if SAMPLES[n].upstream])
async def test_a_masking_pre_call_guardrail_rewrites_what_the_upstream_gets(name: str, upstream):
    seen = upstream
    install(SAMPLES[name], guard("pii", ("pre_call",), MASKING))
    status, body = await call(name, EMAIL)
    assert status == 200, body[:300]
    assert seen and all(EMAIL.encode() not in sent for sent in seen)
    assert any(b"[EMAIL_REDACTED]" in sent for sent in seen)


@pytest.mark.django_db
@pytest.mark.parametrize("name", HTTP)
async def test_a_post_call_guardrail_reads_the_answer_or_refuses(name: str, upstream):
    """Every mock answer with text says "fine": a post_call guardrail blocking it
    blocks a readable answer, refuses an endpoint whose answer it cannot read, and
    has nothing to read in vectors, scores or a count."""
    seen = upstream
    declared: Endpoint = endpoints.ENDPOINTS[name]
    install(SAMPLES[name], guard("out", ("post_call",), {"blocked_words": ["fine"]}))
    status, body = await call(name, "nothing bad")
    error = orjson.loads(body).get("error") if status != 200 else None
    if declared.outputs == UNREADABLE:  # (in the caller's format: Gemini's has no code)
        assert status == 400 and seen == [], body[:300]
        assert "guardrail 'out' (post_call) applies" in error["message"]
        assert f"cannot read the {name} endpoint's answer" in error["message"]
    elif declared.outputs == TEXT:
        assert status == 400 and seen, body[:300]
        assert "guardrail 'out' blocked the answer" in error["message"]
    else:
        assert status == 200, body[:300]


@pytest.mark.parametrize("name", sorted(SOCKETS))
async def test_a_default_on_pre_call_guardrail_blocks_every_socket(name: str, upstream):
    install(SAMPLES["chat"], guard("words", ("pre_call",), BLOCKING))
    route_ = registry.current().route("m")
    assert route_ is not None
    session = realtime_guard.begin(MASTER, route_, "r1")
    assert session is not None
    event = SOCKETS[name]("nothing bad")
    assert await session.client(event) is event  # the control: relayed as it came
    with pytest.raises(GuardrailBlocked) as refused:
        await session.client(SOCKETS[name](WORD))
    assert refused.value.guardrail == "words"
