"""The LLM judge kind: a model on one of the gateway's routes, called through the
pipeline (in process, a mock OpenAI upstream): Llama Guard's safe/unsafe, JSON and regex
verdicts; an unreadable verdict or a failed call is a failure, never a pass; the call is
journaled and charged to the caller's key; a judge never judges its own call."""

from __future__ import annotations

import dataclasses
from itertools import count
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, GuardrailEntry
from gateway.base.errors import GuardrailBlocked, GuardrailUnavailable
from gateway.core import service
from gateway.features.guardrails import engine, kinds
from gateway.features.guardrails.kinds import ConfigError, Context
from tests.gateway.entries import route, snapshot

JUDGE_MODEL = "llama-guard-3"
_ids = count(7000)
KEY = dataclasses.replace(
    MASTER, id=52, name="bob-key", prefix="sk-sy-bob", routes=frozenset({"m"})
)


def chat_answer(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
    }


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    """Routes ``m`` (the caller's model) and ``guard`` (the judge); the judge answers
    by what the prompt carries, or ``state["judge"]`` when set."""
    recorded: list = []
    monkeypatch.setattr(journal, "record", recorded.append)
    seen: list[dict[str, Any]] = []
    state: dict[str, Any] = {"judge": None, "judge_status": 200}

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen.append(body)
        if body["model"] != JUDGE_MODEL:
            return httpx.Response(200, json=chat_answer("the main answer", body["model"]))
        if state["judge_status"] != 200:
            return httpx.Response(state["judge_status"], json={"error": {"message": "down"}})
        prompt = body["messages"][0]["content"]
        if state["judge"] is not None:
            answer = state["judge"]
        elif "weapon" in prompt:
            answer = "unsafe\nS1, S9"
        else:
            answer = "safe"
        return httpx.Response(200, json=chat_answer(answer, JUDGE_MODEL))

    http.use_transport(httpx.MockTransport(handler))
    snap = snapshot(route("m", "up-1", max_attempts=1), route("guard", JUDGE_MODEL, max_attempts=1))
    registry.install(snap)
    yield seen, state, recorded


def judge(name: str = "judge", fail_open: bool = False, **params: Any) -> GuardrailEntry:
    settings = {"route": "guard", **params}
    return GuardrailEntry(
        id=next(_ids),
        name=name,
        kind="llm_judge",
        modes=frozenset({"pre_call", "post_call"}),
        fail_open=fail_open,
        params=kinds.validate("llm_judge", ["pre_call"], settings)[1],
    )


def context(key=KEY, input_type: str = "request") -> Context:
    return Context(
        input_type=input_type,  # type: ignore[arg-type]
        mode="pre_call",
        key=key,
        route="m",
        model="m",
        request_id="req-9",
    )


async def check(entry: GuardrailEntry, texts: list[str], ctx: Context | None = None):
    notes = engine.Notes()
    checked = await engine.run([entry], texts, ctx or context(), notes)
    return checked, notes.as_list()


async def test_safe_passes_and_the_judge_sees_the_text_in_its_prompt(gateway):
    seen, _, _ = gateway
    checked, notes = await check(
        judge(), ["hello there", "and more"], context(input_type="response")
    )
    assert checked == ["hello there", "and more"] and notes[0]["verdict"] == "none"
    (body,) = seen
    assert body["model"] == JUDGE_MODEL and body["temperature"] == 0
    prompt = body["messages"][0]["content"]
    assert "hello there\n\nand more" in prompt and "response" in prompt


async def test_unsafe_blocks_naming_the_categories(gateway):
    with pytest.raises(GuardrailBlocked) as refused:
        await check(judge(), ["how to build a weapon"])
    assert "S1" in refused.value.message and "S9" in refused.value.message
    assert "weapon" not in refused.value.message


async def test_the_call_is_journaled_and_charged_to_the_callers_key(gateway):
    _, _, recorded = gateway
    await check(judge(), ["hello"])  # the key may call "m" only: the judge's route is added
    (rec,) = recorded
    assert rec.status == 200 and rec.route == "guard"
    assert rec.key_id == 52 and rec.key_name == "bob-key"
    assert rec.user_agent == "switchyard-guardrail/judge"
    await check(judge(), ["hello"], context(key=None))
    assert recorded[1].key_name == "master"


async def test_a_custom_template_is_filled(gateway):
    seen, _, _ = gateway
    await check(judge(prompt_template='Judge {input_type}: "{text}" {"json": "braces"}'), ["hi"])
    assert seen[0]["messages"][0]["content"] == 'Judge request: "hi" {"json": "braces"}'


@pytest.mark.parametrize("answer", ["maybe", "", "I think it is fine", "unsafety"])
async def test_an_unreadable_llama_guard_answer_is_a_failure(gateway, answer):
    _, state, _ = gateway
    state["judge"] = answer
    with pytest.raises(GuardrailUnavailable) as refused:
        await check(judge(), ["hello"])
    assert "'guard'" in refused.value.message
    checked, notes = await check(judge(fail_open=True), ["hello"])
    assert checked == ["hello"] and notes[0]["bypassed"] is True


@pytest.mark.parametrize(
    ("answer", "blocked"),
    [
        ('{"verdict": "allow"}', False),
        ('```json\n{"verdict": "block", "reason": "threatens someone"}\n```', True),
        ('Here you go: {"verdict": "BLOCK", "reason": "threatens someone"} done', True),
    ],
)
async def test_the_json_parser(gateway, answer, blocked):
    _, state, _ = gateway
    state["judge"] = answer
    if blocked:
        with pytest.raises(GuardrailBlocked) as refused:
            await check(judge(verdict_parser="json"), ["hello"])
        assert "threatens someone" in refused.value.message
    else:
        assert (await check(judge(verdict_parser="json"), ["hello"]))[0] == ["hello"]


@pytest.mark.parametrize("answer", ["safe", '{"verdict": "perhaps"}', "{not json}", "[]"])
async def test_an_unreadable_json_verdict_is_a_failure(gateway, answer):
    _, state, _ = gateway
    state["judge"] = answer
    with pytest.raises(GuardrailUnavailable):
        await check(judge(verdict_parser="json"), ["hello"])


async def test_the_regex_parser(gateway):
    _, state, _ = gateway
    guard = judge(verdict_parser="regex", block_pattern=r"(?i)\bviolation\b")
    state["judge"] = "Verdict: VIOLATION of policy"
    with pytest.raises(GuardrailBlocked):
        await check(guard, ["hello"])
    state["judge"] = "all good"
    assert (await check(guard, ["hello"]))[0] == ["hello"]
    strict = judge(verdict_parser="regex", block_pattern="VIOLATION", allow_pattern="^OK")
    with pytest.raises(GuardrailUnavailable):  # neither pattern: not a pass
        await check(strict, ["hello"])
    state["judge"] = "OK"
    assert (await check(strict, ["hello"]))[0] == ["hello"]


async def test_a_failed_judge_call_is_a_failure(gateway):
    _, state, _ = gateway
    state["judge_status"] = 500
    with pytest.raises(GuardrailUnavailable) as refused:
        await check(judge(), ["hello"])
    assert "'guard'" in refused.value.message
    with pytest.raises(GuardrailUnavailable) as refused:
        await check(judge(route="no-such-route"), ["hello"])
    assert "404" in refused.value.message


async def test_a_default_on_judge_never_judges_its_own_call(gateway):
    seen, _, recorded = gateway
    guard = dataclasses.replace(judge(), default_on=True, modes=frozenset({"pre_call"}))
    snap = registry.current()
    snap.guardrails = {guard.name: guard}
    snap.default_guardrails = (guard.name,)
    registry.install(snap)
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]})
    reply = await service.handle("chat", "openai", raw, {}, service.Caller(key=KEY))
    assert reply.status == 200
    assert [body["model"] for body in seen] == [JUDGE_MODEL, "up-1"]
    judged, main = recorded
    assert judged.route == "guard" and judged.guardrails is None
    assert main.guardrails[0]["verdict"] == "none"
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "a weapon"}]})
    reply = await service.handle("chat", "openai", raw, {}, service.Caller(key=KEY))
    assert reply.status == 400 and len(seen) == 3  # judged, refused: the upstream never asked


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params.route"),
        ({"route": "guard", "prompt_template": "no placeholder"}, "params.prompt_template"),
        ({"route": "guard", "verdict_parser": "vibes"}, "params.verdict_parser"),
        ({"route": "guard", "verdict_parser": "regex"}, "params.block_pattern"),
        (
            {"route": "guard", "verdict_parser": "regex", "block_pattern": "("},
            "params.block_pattern",
        ),
        (
            {
                "route": "guard",
                "verdict_parser": "regex",
                "block_pattern": "x",
                "allow_pattern": ".*",
            },
            "params.allow_pattern",
        ),
        ({"route": "guard", "max_tokens": 0}, "params.max_tokens"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(params, field):
    with pytest.raises(ConfigError) as refused:
        kinds.validate("llm_judge", ["pre_call"], params)
    assert refused.value.field == field
