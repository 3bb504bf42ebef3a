"""Every declared endpoint (``gateway.base.endpoints.ENDPOINTS``) crossed with the
guardrail policies, built from the declaration: a ``default_on`` pre_call guardrail
blocks a request carrying its word with nothing sent upstream (the control: the same
request without the word is answered, through the mock upstream where it has one), a
masking one rewrites what the upstream gets, and a post_call guardrail either reads the
answer or refuses the request, naming itself. An endpoint the gateway serves that is not
declared fails ``test_every_served_endpoint_is_declared`` (shown by serving one more);
a declared endpoint with no sample here fails ``test_every_declared_endpoint_has_a_sample``.

The Realtime socket's samples drive its relay guard (``gateway.guardrails.realtime``).
The samples and the mock upstream are shared with the other policies' matrix
(``tests/gateway/endpoint_samples.py``)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.base import endpoints, hooks, http
from gateway.base.endpoints import TEXT, UNREADABLE, Endpoint
from gateway.base.entries import MASTER, GuardrailEntry
from gateway.core import jobs, service
from gateway.core.call import StreamReply
from gateway.edge import dialects
from gateway.errors import GuardrailBlocked
from gateway.guardrails import realtime as realtime_guard
from gateway.policy import registry
from tests.gateway.endpoint_samples import SAMPLES, SOCKETS, answer, install, served

WORD = "forbidden"
EMAIL = "a@b.co"
BLOCKING = {"blocked_words": [{"keyword": WORD, "action": "BLOCK"}]}
MASKING = {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    monkeypatch.setattr(journal, "record", lambda record: None)
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return answer(request)

    http.use_transport(httpx.MockTransport(handler))
    yield seen
    http.use_transport(None)


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
