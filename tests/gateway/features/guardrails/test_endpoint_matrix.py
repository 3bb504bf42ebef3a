"""Every declared endpoint (``gateway.base.endpoints.ENDPOINTS``) crossed with the
guardrail policies, built from the declaration: a ``default_on`` pre_call guardrail
blocks a request carrying its word with nothing sent upstream (the control: the same
request without the word is answered, through the mock upstream where it has one), a
masking one rewrites what the upstream gets, and a post_call guardrail either reads the
answer or refuses the request, naming itself. An endpoint whose inputs no guardrail can
read (``inputs=None``: a passthrough body of no known shape) is refused by a pre_call
guardrail, word or no word, with nothing sent upstream: never skipped. An endpoint the gateway serves that is not
declared fails ``test_every_served_endpoint_is_declared`` (shown by serving one more);
a declared endpoint with no sample here fails ``test_every_declared_endpoint_has_a_sample``.

The Realtime socket's samples drive its relay guard (``gateway.features.guardrails.realtime``).
The samples and the mock upstream are shared with the other policies' matrix
(``tests/gateway/endpoint_samples.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import endpoints, hooks, http
from gateway.base.endpoints import TEXT, UNREADABLE, Endpoint
from gateway.base.entries import MASTER, GuardrailEntry
from gateway.base.errors import GuardrailBlocked
from gateway.core import jobs, service
from gateway.core.call import StreamReply
from gateway.edge import dialects
from gateway.features.guardrails import live as live_guard
from tests.gateway.endpoint_samples import SAMPLES, SOCKETS, answer, install, served

WORD = "forbidden"
EMAIL = "a@b.co"
BLOCKING = {"blocked_words": [{"keyword": WORD, "action": "BLOCK"}]}
MASKING = {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset: None) -> Iterator[list[bytes]]:
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
        sample.endpoint or name,
        sample.dialect,
        raw,
        headers,
        service.Caller(key=MASTER),
        sample.path_fields,
    )
    if isinstance(reply, StreamReply):
        body = b"".join([chunk async for chunk in reply.chunks])
        return reply.status, body
    return reply.status, reply.body


HTTP = sorted(name for name, e in endpoints.ENDPOINTS.items() if not e.socket)


def test_every_declared_endpoint_has_a_sample() -> None:
    """A new endpoint is covered the day it is declared: it needs a sample here."""
    assert set(endpoints.ENDPOINTS) == set(SAMPLES) | set(SOCKETS)
    assert {n for n, e in endpoints.ENDPOINTS.items() if e.socket} == set(SOCKETS)


def undeclared() -> set[str]:
    return served() - endpoints.every_name()


def test_every_served_endpoint_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever serves it (the POST table, a row of the edge's route table, a socket, the
    URL conf: ``served``), an API path needs a declaration; the other ways one can go
    missing are shown in tests/gateway/core/test_policy_matrix.py."""
    assert undeclared() == set()
    # a new endpoint served without a declaration is caught
    monkeypatch.setitem(dialects.POST_ROUTES, "/v1/new/thing", ("new_thing", "openai"))
    assert undeclared() == {"new_thing"}


# How guardrails reach each endpoint that generates nothing (``endpoints.RESOURCES``):
# one that says they do names the test showing it; one that says none can read it says
# why in its declaration (``Resource.why``, required).
GUARDED_BY = {
    "mcp": "tests/gateway/features/mcp/test_guardrails.py::"
    "test_a_blocked_word_in_the_arguments_stops_the_call",
    "conversations": "tests/gateway/features/guardrails/test_endpoint_matrix.py::"
    "test_a_conversations_items_are_guarded_when_a_request_uses_it",
    "a2a": "tests/gateway/features/a2a/test_live_a2a.py::test_a_blocked_word_is_refused_both_ways",
}


def test_every_endpoint_that_generates_nothing_says_how_guardrails_reach_it() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    guarded = {n for n, r in endpoints.RESOURCES.items() if r.guardrails != endpoints.NO_TEXT}
    assert guarded == set(GUARDED_BY)
    for where in GUARDED_BY.values():
        path, test = where.split("::")
        assert f"def {test}(" in (root / path).read_text(), where
    for name, declared in endpoints.RESOURCES.items():
        assert declared.why.strip(), name  # said, not omitted
    with pytest.raises(ValueError, match="say how guardrails reach it"):
        endpoints.Resource("new_store", endpoints.KEY, endpoints.NO_TEXT, "")


@pytest.mark.django_db(transaction=True)
async def test_a_conversations_items_are_guarded_when_a_request_uses_it(
    upstream: list[bytes],
) -> None:
    """A conversation's items are stored, never sent by ``/v1/conversations`` itself:
    a Responses request naming the conversation carries them, and a ``default_on``
    pre_call guardrail reads them there (400, nothing upstream); the control: the same
    request on a conversation without the word is answered."""
    from asgiref.sync import sync_to_async

    from gateway.base.entries import KeyEntry
    from gateway.features.responses import conversations

    seen = upstream
    key = KeyEntry(id=61_061, name="conv", prefix="sy-conv", routes=None, rpm_limit=None,
                   tpm_limit=None, budget_usd=None, budget_period="month", expires_at=None,
                   revoked=False)  # fmt: skip
    item = {"type": "message", "role": "user", "content": f"remember {WORD}"}
    stained = await sync_to_async(conversations.create)(key, {"items": [item]})
    clean = await sync_to_async(conversations.create)(
        key, {"items": [{**item, "content": "remember nothing"}]}
    )
    install(SAMPLES["chat"], guard("words", ("pre_call",), BLOCKING))

    async def ask(conversation: str) -> int:
        body = {"model": "m", "input": "go on", "conversation": conversation, "store": False}
        raw = orjson.dumps(body)
        reply = await service.handle("chat", "responses", raw, {}, service.Caller(key=key))
        return reply.status

    assert await ask(stained["id"]) == 400 and seen == []
    assert await ask(clean["id"]) == 200 and len(seen) == 1
    assert b"remember nothing" in seen[0]  # the items went as the request's input


async def test_an_undeclared_endpoint_with_a_guardrail_is_refused_not_skipped(
    upstream: list[bytes],
) -> None:
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
    assert isinstance(reply, service.Reply)
    assert reply.status == 400 and seen == []
    error = orjson.loads(reply.body)["error"]
    assert "'words'" in error["message"] and error["code"] == "guardrail_not_applicable"


@pytest.mark.django_db
@pytest.mark.parametrize("name", HTTP)
async def test_a_default_on_pre_call_guardrail_blocks_every_endpoint(
    name: str, upstream: list[bytes]
) -> None:
    seen = upstream
    sample = SAMPLES[name]
    install(sample, guard("words", ("pre_call",), BLOCKING))
    status, body = await call(name, "nothing bad")  # the control: the path is live
    if endpoints.ENDPOINTS[name].inputs is None:  # nothing it can read: refused, not skipped
        assert status == 400 and seen == [], body[:300]
        error = orjson.loads(body)["error"]
        assert "guardrail 'words' (pre_call) applies" in error["message"]
        assert f"cannot read the {name} endpoint's request" in error["message"]
        return
    assert status == 200, body[:300]
    assert bool(seen) == sample.upstream
    seen.clear()
    status, body = await call(name, WORD)
    assert status == 400, body[:300]
    assert seen == []  # nothing reached the upstream
    assert b"guardrail 'words' blocked the request" in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [n for n in HTTP if SAMPLES[n].upstream and endpoints.ENDPOINTS[n].inputs is not None],
)
async def test_a_masking_pre_call_guardrail_rewrites_what_the_upstream_gets(
    name: str, upstream: list[bytes]
) -> None:
    seen = upstream
    install(SAMPLES[name], guard("pii", ("pre_call",), MASKING))
    status, body = await call(name, EMAIL)
    assert status == 200, body[:300]
    assert seen and all(EMAIL.encode() not in sent for sent in seen)
    assert any(b"[EMAIL_REDACTED]" in sent for sent in seen)


@pytest.mark.django_db
@pytest.mark.parametrize("name", HTTP)
async def test_a_post_call_guardrail_reads_the_answer_or_refuses(
    name: str, upstream: list[bytes]
) -> None:
    """Every mock answer with text says "fine": a post_call guardrail blocking it
    blocks a readable answer, refuses an endpoint whose answer it cannot read, and
    has nothing to read in vectors, scores or a count."""
    seen = upstream
    declared: Endpoint = endpoints.ENDPOINTS[name]
    install(SAMPLES[name], guard("out", ("post_call",), {"blocked_words": ["fine"]}))
    status, body = await call(name, "nothing bad")
    error: Any = orjson.loads(body).get("error") if status != 200 else None
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
async def test_a_default_on_pre_call_guardrail_blocks_every_socket(
    name: str, upstream: list[bytes]
) -> None:
    install(SAMPLES["chat"], guard("words", ("pre_call",), BLOCKING))
    route_ = registry.current().route("m")
    assert route_ is not None
    session = live_guard.Sessions().begin(MASTER, route_, "r1", protocol=name)
    assert session is not None
    event = SOCKETS[name]("nothing bad")
    assert await session.client(event) is event  # the control: relayed as it came
    with pytest.raises(GuardrailBlocked) as refused:
        await session.client(SOCKETS[name](WORD))
    assert refused.value.guardrail == "words"
