"""The Generic Guardrail API kind against a real service on 127.0.0.1: the contract
(path, x-api-key, body shape, no caller secret), the three actions, and the failure
policies through the engine (service down, HTTP 500, too slow, a malformed answer)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import orjson
import pytest

from gateway.base.entries import MASTER, GuardrailEntry, KeyEntry, TeamEntry
from gateway.base.errors import GuardrailBlocked, GuardrailUnavailable
from gateway.features.guardrails import engine, kinds
from gateway.features.guardrails.kinds import ConfigError, Context
from gateway.features.guardrails.kinds.generic_api import PATH
from tests.gateway.features.guardrails.kinds.local_server import (
    Answer,
    LocalServer,
    Received,
    closed_port,
)

GUARD_KEY = "guard-secret-123"
_ids = count(5000)

TEAM = TeamEntry(3, "research", None, None, None, "total")
KEY = dataclasses.replace(
    MASTER, id=41, name="alice-laptop", prefix="sk-sy-abcd", routes=None, team=TEAM, user_id=9
)


def shaped(body: Any) -> bool:
    """The contract's request shape."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("texts"), list)
        and all(isinstance(t, str) for t in body["texts"])
        and body.get("input_type") in ("request", "response")
        and isinstance(body.get("request_data"), dict)
        and isinstance(body.get("additional_provider_specific_params"), dict)
    )


async def guard_service(request: Received) -> Answer:
    """A guardrail service: refuses a wrong key or a malformed body, then decides by
    content."""
    if request.method != "POST" or request.path != PATH:
        return Answer(404, b'{"detail": "not found"}')
    if request.headers.get("x-api-key") != GUARD_KEY:
        return Answer(401, b'{"detail": "bad key"}')
    body = orjson.loads(request.body)
    if not shaped(body):
        return Answer(400, b'{"detail": "bad body"}')
    text = " ".join(body["texts"])
    if "explode" in text:
        return Answer(500, b'{"detail": "boom"}')
    if "slowly" in text:
        return Answer(200, b'{"action": "NONE"}', delay=3.0)
    if "garbage" in text:
        return Answer(200, b"<html>not json</html>", content_type="text/html")
    if "shrug" in text:
        return Answer(200, b'{"action": "MAYBE"}')
    if "attack" in text and body["additional_provider_specific_params"].get("block", True):
        return Answer(200, b'{"action": "BLOCKED", "blocked_reason": "prompt attack"}')
    if "code-" in text:
        rewritten = [t.replace("code-42", "[CODE]") for t in body["texts"]]
        return Answer(200, orjson.dumps({"action": "GUARDRAIL_INTERVENED", "texts": rewritten}))
    return Answer(200, b'{"action": "NONE"}')


@pytest.fixture
async def service(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LocalServer]:
    monkeypatch.setenv("GUARD_SERVICE_API_KEY", GUARD_KEY)
    async with LocalServer(guard_service) as server:
        yield server


def entry(api_base: str, *, fail_open: bool = False, timeout: float = 2.0, **params: Any):
    settings = {
        "api_base": api_base,
        "api_key": "os.environ/GUARD_SERVICE_API_KEY",
        "additional_provider_specific_params": {"threshold": 0.8, "language": "en"},
        **params,
    }
    return GuardrailEntry(
        id=next(_ids),
        name="ext",
        kind="generic_guardrail_api",
        modes=frozenset({"pre_call", "post_call"}),
        fail_open=fail_open,
        timeout=timeout,
        params=kinds.validate("generic_guardrail_api", ["pre_call"], settings)[1],
    )


def context(key: KeyEntry | None = KEY, **extra: Any) -> Context:
    return Context(
        input_type="request",
        mode="pre_call",
        key=key,
        route="m",
        model="m",
        request_id="req-1",
        extra=extra,
    )


async def run(guard: GuardrailEntry, texts: list[str], ctx: Context | None = None):
    notes = engine.Notes()
    checked = await engine.run([guard], texts, ctx or context(), notes)
    return checked, notes.as_list()


async def test_a_clean_text_passes_and_the_service_gets_the_contract(service):
    texts = ["hello there", "second part"]
    guard = entry(service.url, request_settable=["tone"])
    checked, notes = await run(guard, texts, context(ext={"threshold": 0.9, "tone": "formal"}))
    assert checked == texts and notes[0]["verdict"] == "none"
    (sent,) = service.received
    assert sent.path == "/beta/litellm_basic_guardrail_api"
    assert sent.headers["x-api-key"] == GUARD_KEY
    body = orjson.loads(sent.body)
    assert body["texts"] == texts and body["input_type"] == "request"
    assert body["litellm_call_id"] == "req-1"
    data = body["request_data"]
    assert data["user_api_key_alias"] == "alice-laptop"
    assert data["user_api_key_team_id"] == "3" and data["user_api_key_team_alias"] == "research"
    assert data["user_api_key_user_id"] == "9"
    assert data["route"] == "m" and data["model"] == "m" and data["request_id"] == "req-1"
    # the request adds what the guardrail lets it set; a configured setting always wins
    assert body["additional_provider_specific_params"] == {
        "threshold": 0.8,
        "language": "en",
        "tone": "formal",
    }
    # nothing of the caller's key: not its prefix, not a hash
    assert b"sk-sy-abcd" not in sent.raw
    assert not any("hash" in name for name in data)


async def test_blocked_refuses_with_the_services_reason(service):
    with pytest.raises(GuardrailBlocked) as refused:
        await run(entry(service.url), ["an attack on you"])
    assert "prompt attack" in refused.value.message and "ext" in refused.value.message
    assert "an attack on you" not in refused.value.message


async def test_intervened_rewrites_the_texts(service):
    checked, notes = await run(entry(service.url), ["my code-42 here", "nothing"])
    assert checked == ["my [CODE] here", "nothing"]
    assert notes[0]["verdict"] == "intervened"


async def test_the_path_is_not_added_twice_and_a_trailing_slash_changes_nothing(service):
    await run(entry(service.url + PATH), ["hello"])
    await run(entry(service.url + "/"), ["hello"])
    assert [r.path for r in service.received] == [PATH, PATH]


async def test_a_wrong_key_is_a_failure_never_a_pass(service, monkeypatch):
    monkeypatch.setenv("GUARD_SERVICE_API_KEY", "wrong-key-999")
    with pytest.raises(GuardrailUnavailable) as refused:
        await run(entry(service.url), ["hello"])
    assert "401" in refused.value.message
    assert "wrong-key-999" not in refused.value.message


async def test_an_unset_key_variable_is_named_and_nothing_is_sent(service, monkeypatch):
    monkeypatch.delenv("GUARD_SERVICE_API_KEY")
    with pytest.raises(GuardrailUnavailable) as refused:
        await run(entry(service.url), ["hello"])
    assert "GUARD_SERVICE_API_KEY" in refused.value.message
    assert service.received == []


def down() -> str:
    return f"http://127.0.0.1:{closed_port()}"


FAILURES = {
    "service down": (None, "hello"),
    "HTTP 500": ("up", "please explode"),
    "slower than its timeout": ("up", "answer slowly"),
    "no JSON": ("up", "garbage"),
    "an unknown action": ("up", "shrug"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failure_refuses_when_failing_closed(service, failure):
    where, text = FAILURES[failure]
    guard = entry(service.url if where else down(), timeout=0.5)
    notes = engine.Notes()
    with pytest.raises(GuardrailUnavailable) as refused:
        await engine.run([guard], [text], context(), notes)
    assert refused.value.status == 503
    assert GUARD_KEY not in refused.value.message
    (note,) = notes.as_list()
    assert note["verdict"] == "error" and "bypassed" not in note


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failure_passes_noted_as_bypassed_when_failing_open(service, failure):
    where, text = FAILURES[failure]
    guard = entry(service.url if where else down(), timeout=0.5, fail_open=True)
    checked, notes = await run(guard, [text])
    assert checked == [text]
    (note,) = notes
    assert note["bypassed"] is True and note["verdict"] == "error"
    assert GUARD_KEY not in note["error"]


async def test_the_timeout_is_the_guardrails_own(service):
    import time

    started = time.perf_counter()
    with pytest.raises(GuardrailUnavailable) as refused:
        await run(entry(service.url, timeout=0.3), ["answer slowly"])
    assert time.perf_counter() - started < 2.0
    assert "0.3s" in refused.value.message


async def test_headers_are_sent_and_may_be_references(service, monkeypatch):
    monkeypatch.setenv("GUARD_TENANT_TOKEN", "tenant-7")
    await run(
        entry(service.url, headers={"X-Tenant": "os.environ/GUARD_TENANT_TOKEN", "X-Plain": "v"}),
        ["hello"],
    )
    (sent,) = service.received
    assert sent.headers["x-tenant"] == "tenant-7" and sent.headers["x-plain"] == "v"


async def test_no_key_sends_no_key_identity(service):
    await run(entry(service.url), ["hello"], context(key=None))
    data = orjson.loads(service.received[0].body)["request_data"]
    assert "user_api_key_alias" not in data


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params.api_base"),
        ({"api_base": "ftp://host"}, "params.api_base"),
        ({"api_base": "http://"}, "params.api_base"),
        ({"api_base": "os.environ/not a name"}, "params.api_base"),
        ({"api_base": "http://h", "api_key": 5}, "params.api_key"),
        ({"api_base": "http://h", "headers": ["x"]}, "params.headers"),
        ({"api_base": "http://h", "headers": {"x-api-key": "k"}}, "params.headers.x-api-key"),
        ({"api_base": "http://h", "headers": {"X-A": "a\nb"}}, "params.headers.X-A"),
        (
            {"api_base": "http://h", "additional_provider_specific_params": []},
            "params.additional_provider_specific_params",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_field(params, field):
    with pytest.raises(ConfigError) as refused:
        kinds.validate("generic_guardrail_api", ["pre_call"], params)
    assert refused.value.field == field


def test_good_settings_are_kept():
    modes, params = kinds.validate(
        "generic_guardrail_api",
        ["pre_call", "during_call"],
        {"api_base": " os.environ/GUARD_API_BASE ", "api_key": "literal"},
    )
    assert params["api_base"] == "os.environ/GUARD_API_BASE"
    assert modes == ["pre_call", "during_call"]


# --- end to end: the pipeline, a real upstream and the service, both on 127.0.0.1 -------


def chat_answer(text: str) -> bytes:
    message = {"role": "assistant", "content": text}
    return orjson.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "up-1",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
    )


def chat_stream(text: str) -> bytes:
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    events = [
        b"data: " + orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                                  "model": "up-1", **chunk}) + b"\n\n"
        for chunk in chunks
    ]  # fmt: skip
    return b"".join(events) + b"data: [DONE]\n\n"


async def upstream_service(request: Received) -> Answer:
    if request.path != "/v1/chat/completions" or request.headers.get("authorization") != (
        "Bearer up-secret"
    ):
        return Answer(401, b'{"error": {"message": "no"}}')
    body = orjson.loads(request.body)
    if body.get("stream"):
        return Answer(200, chat_stream("streamed words"), content_type="text/event-stream")
    return Answer(200, chat_answer("a fine answer"))


@pytest.fixture
async def pipeline(service, monkeypatch, snapshot_reset):
    from gateway import journal
    from gateway.access import registry
    from gateway.base.entries import ProviderEntry
    from tests.gateway.entries import route, snapshot

    recorded: list = []
    monkeypatch.setattr(journal, "record", recorded.append)
    async with LocalServer(upstream_service) as upstream:
        provider = ProviderEntry(
            81, "local", "openai", upstream.url + "/v1", "up-secret", {}, "", None
        )
        only_rewrites = {"additional_provider_specific_params": {"block": False}}
        rewrite = dataclasses.replace(
            entry(service.url, **only_rewrites),
            name="rewrite",
            modes=frozenset({"pre_call"}),
            default_on=True,
        )
        gate = dataclasses.replace(
            entry(service.url), name="gate", modes=frozenset({"during_call"}), default_on=True
        )
        snap = snapshot(route("m", "up-1", max_attempts=1, provider=provider))
        snap.guardrails = {"rewrite": rewrite, "gate": gate}
        snap.default_guardrails = ("rewrite", "gate")
        registry.install(snap)
        yield upstream, recorded


async def ask(content: str, *, stream: bool = False):
    from gateway.core import service as pipeline_service

    body = {"model": "m", "messages": [{"role": "user", "content": content}], "stream": stream}
    headers = {"authorization": "Bearer sk-caller-secret-777"}  # as the edge hands them on
    caller = pipeline_service.Caller(key=KEY)
    return await pipeline_service.handle("chat", "openai", orjson.dumps(body), headers, caller)


async def test_pre_call_rewrites_what_the_upstream_sees(service, pipeline):
    upstream, recorded = pipeline
    reply = await ask("my code-42 please")
    assert reply.status == 200, reply.body
    (sent,) = upstream.received
    assert orjson.loads(sent.body)["messages"][0]["content"] == "my [CODE] please"
    # the service saw the text twice (pre_call, then during_call on the rewritten text)
    assert [orjson.loads(r.body)["texts"] for r in service.received] == [
        ["my code-42 please"],
        ["my [CODE] please"],
    ]
    for request in service.received:  # never the caller's secret, nor the upstream's
        assert b"sk-caller-secret-777" not in request.raw and b"up-secret" not in request.raw
        assert request.headers["x-api-key"] == GUARD_KEY
    notes = {note["name"]: note["verdict"] for note in recorded[0].guardrails}
    assert notes == {"rewrite": "intervened", "gate": "none"}


async def test_during_call_blocks_a_stream_before_its_head(service, pipeline):
    from gateway.core import service as pipeline_service

    reply = await ask("an attack now", stream=True)
    assert isinstance(reply, pipeline_service.Reply)  # no stream was started
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert "gate" in error["message"] and "prompt attack" in error["message"]
    assert b"streamed words" not in reply.body


# --- M13: a request never rewrites a guardrail's configured params ------------------------


async def ask_with(content: str, guardrails: Any):
    from gateway.core import service as pipeline_service

    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    body["guardrails"] = guardrails
    caller = pipeline_service.Caller(key=KEY)
    return await pipeline_service.handle("chat", "openai", orjson.dumps(body), {}, caller)


async def test_a_request_cannot_switch_off_a_default_guardrail_it_did_not_ask_for(
    service, pipeline
):
    """M13: ``gate`` (on by default, configured to block) is told ``block: false`` by
    the request: refused with a 400 naming the guardrail, and nothing reaches the
    upstream; the same prompt without the setting is blocked (the guardrail is live)."""
    upstream, _ = pipeline
    blocked = await ask("an attack on you")  # control: the guardrail blocks this prompt
    assert blocked.status == 400 and b"prompt attack" in blocked.body
    sent_before = len(upstream.received)
    reply = await ask_with("an attack on you", [{"gate": {"extra_body": {"block": False}}}])
    assert reply.status == 400, reply.body
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "guardrails"
    assert "'gate'" in error["message"] and "'block'" in error["message"]
    assert len(upstream.received) == sent_before  # the refused one never reached the model


async def test_configured_params_win_over_a_settable_request_setting(service):
    """A guardrail whose definition lets a request set ``tone`` takes it; one setting
    its configured ``block`` is still refused at save time, and a checker never lets a
    request's value replace a configured one."""
    with pytest.raises(ConfigError) as refused:
        entry(service.url, additional_provider_specific_params={"block": True},
              request_settable=["block"])  # fmt: skip
    assert refused.value.field == "params.request_settable"
    guard = entry(service.url, request_settable=["tone"])
    with pytest.raises(GuardrailBlocked):  # block stays the configured default (True)
        await run(guard, ["an attack"], context(ext={"block": False, "tone": "x"}))
    body = orjson.loads(service.received[-1].body)
    assert body["additional_provider_specific_params"]["tone"] == "x"
    assert "block" not in body["additional_provider_specific_params"]
