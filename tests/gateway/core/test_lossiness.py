"""The per-request lossiness note, through the whole service: what a client sent that
its upstream did not get as sent is on the call's journal record (field, dropped or
rewritten, why), in the request log row, in the console's log detail and counted on
``/metrics`` per route and field; a call that loses nothing (passed through or
translated) carries no note at all."""

from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import lossiness, service
from gateway.journal.record import Record
from gateway.telemetry import metrics
from tests.gateway.entries import route, snapshot

OPENAI = ProviderEntry(901, "oai", "openai", "http://oai.test/v1", "sk-test", {}, "", None)
ANTHROPIC = ProviderEntry(902, "ant", "anthropic", "http://ant.test", "sk-test", {}, "", None)
RESPONSES = ProviderEntry(
    903, "resp", "openai_responses", "http://resp.test/v1", "sk-test", {}, "", None
)

CHAT_ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up-1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
MESSAGES_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 1},
}
RESPONSES_ANSWER = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "up-r",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    routes = [
        route("gpt", "up-1", max_attempts=1, provider=OPENAI),
        route("claude", "claude-x", max_attempts=1, provider=ANTHROPIC),
        route("resp", "up-r", max_attempts=1, provider=RESPONSES),
    ]
    thinker = route("gpt-thinks", "o-x", max_attempts=1, provider=OPENAI)
    thinker = replace(
        thinker, deployments=(replace(thinker.deployments[0], supports_reasoning=True),)
    )
    toolless = route("no-tools", "up-1", max_attempts=1, provider=OPENAI)
    toolless = replace(
        toolless, deployments=(replace(toolless.deployments[0], supports_tools=False),)
    )
    registry.install(snapshot(*routes, thinker, toolless))
    received: list[tuple[str, dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append((request.url.path, orjson.loads(request.content)))
        if request.url.host == "ant.test":
            return httpx.Response(200, json=MESSAGES_ANSWER)
        if request.url.host == "resp.test":
            return httpx.Response(200, json=RESPONSES_ANSWER)
        return httpx.Response(200, json=CHAT_ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield records, received
    http.use_transport(None)


async def send(dialect: str, body: dict) -> service.Reply:
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert isinstance(reply, service.Reply)
    assert reply.status == 200, reply.body
    return reply


def by_field(rec: Record) -> dict[str, str]:
    assert rec.translation is not None
    return {n["field"]: n["action"] for n in rec.translation}


async def test_claude_code_on_an_openai_upstream_names_what_was_lost(upstream) -> None:
    records, received = upstream
    await send(
        "anthropic",
        {
            "model": "gpt-thinks",
            "max_tokens": 64,
            "top_k": 40,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "system": [
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [{"role": "user", "content": "Hi"}],
        },
    )
    (rec,) = records
    notes = by_field(rec)
    assert notes["top_k"] == "dropped"
    assert notes["cache_control"] == "dropped"
    assert notes["reasoning.budget_tokens"] == "rewritten"
    ((path, body),) = received
    assert "top_k" not in body and body["reasoning_effort"] == "low"
    details = {n["field"]: n["detail"] for n in rec.translation or []}
    assert "openai" in details["top_k"]


async def test_an_effort_on_a_claude_upstream_becomes_a_budget(upstream) -> None:
    records, received = upstream
    await send(
        "openai",
        {
            "model": "claude",
            "reasoning_effort": "high",
            "stop": ["END"],
            "messages": [{"role": "user", "content": "Hi"}],
        },
    )
    # the catalog does not know claude-x: a test deployment does not reason, so dropped
    (rec,) = records
    assert by_field(rec) == {"reasoning": "dropped"}
    assert "thinking" not in received[0][1]


async def test_a_responses_upstream_emulates_stop_and_says_so(upstream) -> None:
    records, received = upstream
    await send(
        "openai",
        {"model": "resp", "stop": ["END"], "messages": [{"role": "user", "content": "Hi"}]},
    )
    (rec,) = records
    assert by_field(rec) == {"stop": "rewritten"}
    assert "stop" not in received[0][1]


async def test_a_passed_through_body_without_loss_carries_no_note(upstream) -> None:
    records, received = upstream
    body = {"model": "gpt", "temperature": 0.2, "messages": [{"role": "user", "content": "Hi"}]}
    await send("openai", body)
    await send("anthropic", {"model": "claude", "max_tokens": 9, "messages": body["messages"]})
    assert [r.translation for r in records] == [None, None]
    assert received[0][1]["temperature"] == 0.2


async def test_a_translated_call_without_loss_carries_no_note(upstream) -> None:
    records, _ = upstream
    await send(
        "anthropic",
        {"model": "gpt", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert records[0].translation is None


async def test_tools_taken_out_of_a_passed_through_body_are_noted(upstream) -> None:
    records, received = upstream
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    await send(
        "openai",
        {
            "model": "no-tools",
            "tools": [tool],
            "tool_choice": "auto",
            "messages": [{"role": "user", "content": "Hi"}],
        },
    )
    assert by_field(records[0]) == {"tools": "dropped", "tool_choice": "dropped"}
    assert "tools" not in received[0][1]


def test_the_notes_are_counted_per_route_and_field() -> None:
    reg = metrics.Registry()
    rec = Record(request_id="r1", route="gpt", status=200)
    rec.translation = [
        {"field": "top_k", "action": "dropped", "detail": ""},
        {"field": "stop", "action": "rewritten", "detail": ""},
    ]
    reg.observe(rec)
    reg.observe(rec)
    reg.observe(Record(request_id="r2", route="gpt", status=200))
    key = (("route", "gpt"), ("field", "top_k"), ("action", "dropped"))
    assert reg.translation_dropped[key] == 2
    assert len(reg.translation_dropped) == 2
    other = metrics.Registry()
    other.merge(reg.dump())  # as another worker's share is read
    assert other.translation_dropped[key] == 2


def test_the_metrics_page_names_the_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "REGISTRY", metrics.Registry())
    rec = Record(request_id="r1", route="gpt", status=200)
    rec.translation = [{"field": "top_k", "action": "dropped", "detail": ""}]
    metrics.observe(rec)
    text = metrics.render(lambda: {})
    line = 'switchyard_translation_dropped_total{route="gpt",field="top_k",action="dropped"} 1'
    assert "# TYPE switchyard_translation_dropped_total counter" in text
    assert line in text


def test_field_names_from_callers_cannot_grow_the_series_without_bound(monkeypatch) -> None:
    monkeypatch.setattr(metrics, "TRANSLATION_SERIES_MAX", 3)
    reg = metrics.Registry()
    for i in range(10):
        rec = Record(request_id=f"r{i}", route="gpt", status=200)
        rec.translation = [{"field": f"x-{i}" * 80, "action": "dropped", "detail": ""}]
        reg.observe(rec)
    assert len(reg.translation_dropped) == 4  # three names, then "(other)"
    other = (("route", "gpt"), ("field", "(other)"), ("action", "dropped"))
    assert reg.translation_dropped[other] == 7
    assert all(
        len(dict(k)["field"]) <= metrics.TRANSLATION_FIELD_MAX for k in reg.translation_dropped
    )


def test_notes_keep_the_first_reason_per_field() -> None:
    notes = lossiness.Notes()
    assert notes.items is None  # nothing allocated until a note
    notes.add("cache_control", "dropped", "first")
    notes.add("cache_control", "dropped", "second")
    assert notes.items == [{"field": "cache_control", "action": "dropped", "detail": "first"}]


@pytest.mark.django_db
def test_the_note_reaches_the_log_row_and_the_console(client, django_user_model) -> None:
    from gateway.models import RequestLog

    rec = Record(request_id="req-lossy", route="gpt", status=200, dialect="anthropic")
    rec.translation = [
        {"field": "top_k", "action": "dropped", "detail": "the openai upstream does not take it"}
    ]
    plain = Record(request_id="req-plain", route="gpt", status=200)
    journal.write_batch([rec, plain])
    log = RequestLog.objects.get(request_id="req-lossy")
    assert log.translation == rec.translation
    assert RequestLog.objects.get(request_id="req-plain").translation is None
    staff = django_user_model.objects.create_superuser("o", "o@example.com", "pw-123456789")
    client.force_login(staff)
    page = client.get("/logs/req-lossy/").content.decode()
    assert "Lost in translation" in page
    assert "top_k" in page and "the openai upstream does not take it" in page
    assert "Lost in translation" not in client.get("/logs/req-plain/").content.decode()
