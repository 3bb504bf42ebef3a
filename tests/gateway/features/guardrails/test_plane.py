"""The guardrail plane in the pipeline (in process, a mock OpenAI upstream): pre_call
masks before the upstream sees the text and blocks with nothing sent; post_call checks
a whole answer and a stream, holding back only a window; a request no guardrail
applies to passes through untouched."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, GuardrailEntry
from gateway.core import service
from tests.gateway.entries import route, snapshot

FILTER = {
    "patterns": [
        {"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"},
        {"pattern_type": "prebuilt", "pattern_name": "us_ssn", "action": "BLOCK"},
    ],
    "blocked_words": [{"keyword": "forbidden", "action": "BLOCK"}],
}


def guardrail(name: str, modes: tuple[str, ...], **extra: Any) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(name)) % 100000,
        name=name,
        kind="litellm_content_filter",
        modes=frozenset(modes),
        params=extra.pop("params", FILTER),
        **extra,
    )


def chat_answer(text: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "up-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def chat_stream(pieces: list[str], **extra: Any) -> bytes:
    out = []
    for piece in pieces:
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "up-1",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            **extra,
        }
        out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    end = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up-1",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
        **extra,
    }
    out.append(b"data: " + orjson.dumps(end) + b"\n\ndata: [DONE]\n\n")
    return b"".join(out)


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    recorded: list = []
    monkeypatch.setattr(journal, "record", recorded.append)
    seen: list[dict[str, Any]] = []
    answer: dict[str, Any] = {"text": "fine", "pieces": ["fi", "ne"]}

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen.append(body)
        if body.get("stream"):
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=chat_stream(answer["pieces"], **answer.get("chunk_extra", {})),
            )
        extra = {k: v for k, v in answer.items() if k not in ("text", "pieces", "chunk_extra")}
        return httpx.Response(200, json={**chat_answer(answer["text"]), **extra})

    http.use_transport(httpx.MockTransport(handler))
    yield seen, answer, recorded
    http.use_transport(None)


def install(*guards: GuardrailEntry, default: tuple[str, ...] = ()) -> None:
    snap = snapshot(route("m", "up-1", max_attempts=1))
    snap.guardrails = {g.name: g for g in guards}
    snap.default_guardrails = default
    registry.install(snap)


async def ask(content: str, **extra: Any):
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": content}], **extra})
    return await service.handle("chat", "openai", raw, {}, service.Caller(key=MASTER))


async def test_no_guardrail_passes_the_body_through_untouched(upstream):
    seen, _, recorded = upstream
    install()
    reply = await ask("my mail is a@b.co")
    assert reply.status == 200
    assert seen[0]["messages"][0]["content"] == "my mail is a@b.co"
    assert recorded[0].guardrails is None


async def test_pre_call_masks_before_the_upstream_and_the_journal_keeps_no_original(upstream):
    seen, _, recorded = upstream
    install(guardrail("pii", ("pre_call",), default_on=True), default=("pii",))
    reply = await ask("my mail is a@b.co")
    assert reply.status == 200
    assert seen[0]["messages"][0]["content"] == "my mail is [EMAIL_REDACTED]"
    (rec,) = recorded
    assert b"a@b.co" not in bytes(rec.inbound_request)
    (note,) = rec.guardrails
    assert note["verdict"] == "intervened" and note["entities"] == ["email"]


async def test_what_applies_follows_the_snapshot_in_force_request_after_request(upstream):
    """What applies to a request naming no guardrails is worked out once per snapshot:
    a new snapshot, or new default guardrails given to the one in force, apply from the
    next request."""
    seen, _, _ = upstream
    install(guardrail("pii", ("pre_call",), default_on=True), default=("pii",))
    assert (await ask("ssn 123-45-6789")).status == 400
    assert (await ask("ssn 123-45-6789")).status == 400, "the same plan, kept"
    install(guardrail("pii", ("pre_call",)))  # defined, applied to nothing
    assert (await ask("ssn 123-45-6789")).status == 200
    registry.current().default_guardrails = ("pii",)
    assert (await ask("ssn 123-45-6789")).status == 400
    assert len(seen) == 1


async def test_pre_call_block_sends_nothing_upstream(upstream):
    seen, _, recorded = upstream
    install(guardrail("pii", ("pre_call",)))
    reply = await ask("ssn 123-45-6789", guardrails=["pii"])
    assert reply.status == 400 and seen == []
    error = orjson.loads(reply.body)["error"]
    assert "pii" in error["message"] and "us_ssn" in error["message"]
    assert "123-45-6789" not in error["message"]
    assert error["code"] == "guardrail_blocked"
    assert recorded[0].guardrails[0]["verdict"] == "blocked"


async def test_an_unknown_requested_guardrail_is_a_400(upstream):
    seen, _, _ = upstream
    install(guardrail("pii", ("pre_call",)))
    reply = await ask("hello", guardrails=["nope"])
    assert reply.status == 400 and seen == []
    assert "nope" in orjson.loads(reply.body)["error"]["message"]


async def test_the_guardrails_field_never_reaches_the_upstream(upstream):
    seen, _, _ = upstream
    install(guardrail("pii", ("pre_call",)))
    reply = await ask("hello", guardrails=["pii"])
    assert reply.status == 200 and "guardrails" not in seen[0]


async def test_post_call_blocks_a_whole_answer(upstream):
    seen, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["text"] = "this is forbidden text"
    reply = await ask("hello")
    assert reply.status == 400
    assert b"forbidden" not in reply.body
    assert recorded[0].output_tokens == 3  # the upstream's usage still counts


async def test_post_call_masks_a_whole_answer(upstream):
    _, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["text"] = "write to x@y.org"
    reply = await ask("hello")
    assert reply.status == 200
    assert (
        orjson.loads(reply.body)["choices"][0]["message"]["content"] == "write to [EMAIL_REDACTED]"
    )
    assert b"x@y.org" not in bytes(recorded[0].upstream_response)


async def test_post_call_on_a_clean_whole_answer_keeps_it_as_the_upstream_sent_it(upstream):
    """Checked, not translated: a field the upstream adds (no codec maps it) survives."""
    seen, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["text"] = "all clean"
    answer["vendor_field"] = {"kept": True}
    reply = await ask("hello")
    assert reply.status == 200
    data = orjson.loads(reply.body)
    assert data["vendor_field"] == {"kept": True}
    assert data["choices"][0]["message"]["content"] == "all clean"
    (note,) = recorded[0].guardrails
    assert note["mode"] == "post_call" and note["verdict"] == "none"
    answer["text"] = "mail x@y.org"  # a rewrite is rendered again, the original withheld
    reply = await ask("hello")
    data = orjson.loads(reply.body)
    assert data["choices"][0]["message"]["content"] == "mail [EMAIL_REDACTED]"
    assert b"x@y.org" not in reply.body and b"x@y.org" not in bytes(recorded[1].upstream_response)


async def test_a_clean_question_and_answer_are_noted_without_running_the_checks(
    upstream, monkeypatch
):
    """A content filter that knows a text holds nothing any of its rules needs (ASCII, no
    hint: ``Checker.finds_nothing``) notes the check as one that found nothing without
    running it, on the request and on the answer; a text with a hint is checked."""
    from gateway.features.guardrails import engine

    seen, answer, recorded = upstream
    install(guardrail("both", ("pre_call", "post_call")), default=("both",))
    ran: list[str] = []
    real = engine.run

    async def counted(entries, texts, context, notes):
        ran.append(context.mode)
        return await real(entries, texts, context, notes)

    monkeypatch.setattr(engine, "run", counted)
    answer["text"] = "all clean"
    reply = await ask("hello there")
    assert reply.status == 200 and ran == []
    notes = {note["mode"]: note for note in recorded[0].guardrails}
    assert [notes[m]["verdict"] for m in ("pre_call", "post_call")] == ["none", "none"]
    assert [notes[m]["checks"] for m in ("pre_call", "post_call")] == [1, 1]
    answer["text"] = "a well-known fact"  # a "-": what an SSN needs, so checked
    reply = await ask("mail a@b.co")
    assert reply.status == 200 and ran == ["pre_call", "post_call"]
    assert seen[-1]["messages"][0]["content"] == "mail [EMAIL_REDACTED]"


async def test_a_passed_through_answer_is_parsed_only_when_a_check_rewrites_it(
    upstream, monkeypatch
):
    """Its texts are read off the body (``answer_texts``); a clean answer, or a blocked
    one, is never built; a rewrite parses it to land in; an answer with tool calls is
    read as parsed, and a rewrite of their arguments reaches the caller."""
    from gateway.codecs.openai_chat import OpenAIChatCodec

    parsed: list[Any] = []
    parse = OpenAIChatCodec.parse_response

    def counted(self: Any, data: Any) -> Any:
        parsed.append(data)
        return parse(self, data)

    monkeypatch.setattr(OpenAIChatCodec, "parse_response", counted)
    _, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["text"] = "all clean"
    assert (await ask("hello")).status == 200 and not parsed
    answer["text"] = "this is forbidden text"
    assert (await ask("hello")).status == 400 and not parsed
    assert recorded[1].output_tokens == 3  # the upstream's usage still counts
    answer["text"] = "mail x@y.org"
    reply = await ask("hello")
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "mail [EMAIL_REDACTED]"
    assert len(parsed) == 1
    answer["text"] = ""
    answer["choices"] = [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "send", "arguments": '{"to": "x@y.org"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ]
    reply = await ask("hello")
    (called,) = orjson.loads(reply.body)["choices"][0]["message"]["tool_calls"]
    assert orjson.loads(called["function"]["arguments"]) == {"to": "[EMAIL_REDACTED]"}
    assert len(parsed) == 2 and b"x@y.org" not in reply.body


async def read(reply) -> list[dict[str, Any]]:
    body = b"".join([chunk async for chunk in reply.chunks])
    return [orjson.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: {")]


async def test_a_clean_stream_flows_with_only_a_window_held(upstream):
    _, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["pieces"] = ["word " * 20] + ["more "] * 30
    reply = await ask("hello", stream=True)
    chunks = await read(reply)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices")]
    texts = [t for t in texts if t]
    assert "".join(texts) == "word " * 20 + "more " * 30
    assert len(texts) > 10  # released as it came, not in one piece at the end


async def test_a_checked_stream_passes_through_as_the_upstream_sent_it(upstream):
    """Checked in the upstream's bytes, not translated: a field no codec maps stays in
    every chunk; the journal reads the usage and finish; a masked stream's chunks carry
    the mask and the upstream's original answer is not journaled."""
    _, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["chunk_extra"] = {"vendor_field": {"kept": True}}
    answer["pieces"] = ["all ", "clean ", "and ", "fine"]
    reply = await ask("hello", stream=True)
    chunks = await read(reply)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices")]
    assert "".join(t for t in texts if t) == "all clean and fine"
    assert all(c.get("vendor_field") == {"kept": True} for c in chunks if c.get("choices"))
    assert recorded[0].finish_reason == "stop" and recorded[0].output_tokens == 9
    assert b"vendor_field" in bytes(recorded[0].upstream_response)
    answer["pieces"] = ["mail me at jo", "hn.doe@exam", "ple.com please"] + ["ok "] * 5
    reply = await ask("hello", stream=True)
    chunks = await read(reply)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices")]
    assert "".join(t for t in texts if t).startswith("mail me at [EMAIL_REDACTED] please")
    assert all(c.get("vendor_field") == {"kept": True} for c in chunks if c.get("choices"))
    assert b"doe@exam" not in bytes(recorded[1].upstream_response)


async def test_a_stream_stops_before_the_blocked_word(upstream):
    _, answer, recorded = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["pieces"] = ["hello " * 30, "this is forb", "idden and more"] + ["x "] * 10
    reply = await ask("hello", stream=True)
    chunks = await read(reply)
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    assert "forb" not in text
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    assert finishes[-1] == "content_filter" or "content_filter" in finishes
    (rec,) = recorded
    assert rec.guardrails[0]["verdict"] == "blocked"


async def test_a_stream_masks_across_deltas(upstream):
    _, answer, _ = upstream
    install(guardrail("out", ("post_call",)), default=("out",))
    answer["pieces"] = ["mail me at jo", "hn.doe@exam", "ple.com please"] + ["ok "] * 5
    reply = await ask("hello", stream=True)
    chunks = await read(reply)
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    assert text.startswith("mail me at [EMAIL_REDACTED] please")


async def test_monitor_mode_changes_nothing_and_notes_the_verdict(upstream):
    seen, _, recorded = upstream
    install(guardrail("watch", ("pre_call",), monitor=True), default=("watch",))
    reply = await ask("ssn 123-45-6789")
    assert reply.status == 200 and seen[0]["messages"][0]["content"] == "ssn 123-45-6789"
    assert recorded[0].guardrails[0]["verdict"] == "would_block"


class Flaky:
    """A service-backed checker for the failure policies: it raises, hangs or judges."""

    local = False
    window = 64

    def __init__(self, entry: GuardrailEntry, behaviour: str) -> None:
        self.entry, self.behaviour = entry, behaviour

    async def check(self, texts, context):
        import asyncio

        from gateway.features.guardrails.kinds import Verdict

        if self.behaviour == "down":
            raise ConnectionError("connection refused")
        if self.behaviour == "slow":
            await asyncio.sleep(5)
        if self.behaviour == "judge" and any("bad" in t for t in texts):
            return Verdict("blocked", "judged unsafe")
        return Verdict()


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch):
    from gateway.features.guardrails import kinds

    real = kinds.checker
    behaviours: dict[str, str] = {}

    def checker(entry):
        if entry.name in behaviours:
            return Flaky(entry, behaviours[entry.name])
        return real(entry)

    monkeypatch.setattr(kinds, "checker", checker)
    return behaviours


@pytest.mark.parametrize("behaviour", ["down", "slow"])
async def test_a_failing_check_fails_closed_with_nothing_sent(upstream, flaky, behaviour):
    seen, _, recorded = upstream
    flaky["svc"] = behaviour
    install(guardrail("svc", ("pre_call",), timeout=0.2), default=("svc",))
    reply = await ask("hello")
    assert reply.status == 503 and seen == []
    error = orjson.loads(reply.body)["error"]
    assert error["code"] == "guardrail_unavailable" and "svc" in error["message"]
    assert recorded[0].guardrails[0]["verdict"] == "error"


async def test_fail_open_lets_it_through_and_the_bypass_is_journaled_and_counted(upstream, flaky):
    from gateway.telemetry import metrics

    seen, _, recorded = upstream
    flaky["svc"] = "down"
    install(guardrail("svc", ("pre_call",), fail_open=True), default=("svc",))
    reply = await ask("hello")
    assert reply.status == 200 and len(seen) == 1
    (note,) = recorded[0].guardrails
    assert note["bypassed"] is True and "connection refused" in note["error"]
    registry_before = dict(metrics.REGISTRY.guardrail_bypasses)
    metrics.observe(recorded[0])
    key = (("guardrail", "svc"), ("route", "m"))
    assert metrics.REGISTRY.guardrail_bypasses[key] == registry_before.get(key, 0) + 1
    assert "switchyard_guardrail_bypass_total" in metrics.render()


async def test_during_call_runs_beside_the_upstream_and_gates_the_answer(upstream, flaky):
    seen, _, recorded = upstream
    flaky["judge"] = "judge"
    install(guardrail("judge", ("during_call",)), default=("judge",))
    reply = await ask("a bad question")
    assert reply.status == 400 and len(seen) == 1  # the upstream ran; its answer did not go out
    assert "judged unsafe" in orjson.loads(reply.body)["error"]["message"]
    reply = await ask("a bad question", stream=True)
    assert reply.status == 400  # a stream's head waits for the verdict
    reply = await ask("a fine question", stream=True)
    assert reply.status == 200
    assert b"[DONE]" in b"".join([chunk async for chunk in reply.chunks])


async def test_legacy_completions_prompt_and_answer(upstream, monkeypatch):
    seen, _, _ = upstream
    install(guardrail("both", ("pre_call", "post_call")), default=("both",))
    raw = orjson.dumps({"model": "m", "prompt": "mail a@b.co"})
    answers: list[str] = ["fine"]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "text_completion",
                "model": "up-1",
                "choices": [{"index": 0, "text": answers[0], "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
            },
        )

    http.use_transport(httpx.MockTransport(handler))
    reply = await service.handle("completions", "openai", raw, {}, service.Caller(key=MASTER))
    assert reply.status == 200 and seen[-1]["prompt"] == "mail [EMAIL_REDACTED]"
    answers[0] = "it is forbidden"
    reply = await service.handle("completions", "openai", raw, {}, service.Caller(key=MASTER))
    assert reply.status == 400 and b"forbidden" not in reply.body
    streamed = orjson.dumps({"model": "m", "prompt": "hi", "stream": True})
    reply = await service.handle("completions", "openai", streamed, {}, service.Caller(key=MASTER))
    assert reply.status == 400 and b"post_call" in reply.body


async def test_a_setting_for_a_guardrail_that_takes_none_is_refused_naming_it(upstream):
    """M13: a content filter's definition lets a request set nothing: a request's
    ``{name: {extra_body}}`` with a setting is a 400 naming the guardrail, sent nowhere;
    naming it without settings (the control) runs as before."""
    seen, _, _ = upstream
    install(guardrail("pii", ("pre_call",), default_on=True), default=("pii",))
    plain = await ask("mail a@b.co", guardrails=[{"pii": {}}])
    assert plain.status == 200 and seen[0]["messages"][0]["content"] == "mail [EMAIL_REDACTED]"
    reply = await ask("mail a@b.co", guardrails=[{"pii": {"extra_body": {"patterns": []}}}])
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert error["param"] == "guardrails" and "'pii'" in error["message"]
    assert len(seen) == 1


def test_the_kept_plan_is_the_endpoint_s_own(snapshot_reset) -> None:
    """The plan kept per snapshot is kept per endpoint too: a during_call guardrail runs
    beside the call on chat (an answer to hold for its verdict) and before it on
    embeddings (none), whichever endpoint asked first."""
    from gateway.features.guardrails import plane

    install(guardrail("pii", ("during_call",)), default=("pii",))
    snap = registry.current()
    entry = snap.routes["m"]
    for order in (("chat", "embeddings"), ("embeddings", "chat")):
        plane._plans.clear()
        found = {name: plane._planned(snap, MASTER, entry, name)[1] for name in order}
        chat, embeddings = found["chat"], found["embeddings"]
        assert chat is not None and embeddings is not None
        assert [g.name for g in chat.during] == ["pii"] and not chat.pre, order
        assert [g.name for g in embeddings.pre] == ["pii"] and not embeddings.during, order
