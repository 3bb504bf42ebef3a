"""Mediation through the whole service: every request made valid for its upstream's API
version and its model's parameter rules before the call, each change noted "lost in
translation" (journal record and ``switchyard_translation_dropped_total``), a strict
route (``drop_params`` off) refusing in the caller's format instead.

The upstream is a MockTransport that refuses what Anthropic refuses
(``tests.anthropic_rules``), so each test also shows the request it would have failed
with; each has its control (the same path, nothing to mediate, unchanged)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, DeploymentEntry, ProviderEntry, RouteEntry
from gateway.base.types import ChatRequest, Message, Text
from gateway.catalog import entry_for
from gateway.catalog.entry import entry_from_json
from gateway.catalog.matching import KindVendor
from gateway.core import service
from gateway.journal.record import Record
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.bedrock import BedrockProvider
from gateway.telemetry import metrics
from tests import anthropic_rules
from tests.gateway.entries import route, snapshot

ANTHROPIC = ProviderEntry(902, "ant", "anthropic", "http://ant.test", "sk-test", {}, "", None)
RESPONSES = ProviderEntry(
    903, "resp", "openai_responses", "http://resp.test/v1", "sk-test", {}, "", None
)
NEW, OLD = "2026-10-21", "2023-06-01"
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
            "id": "m",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
}


def opus_47() -> Any:  # (made when used: an older catalog refuses the rules field)
    return entry_from_json(
        "anthropic",
        "claude-opus-4-7",
        {"caps": ["reasoning", "tools"], "reasoning_control": "budget",
         "rules": {"reasoning.budget_tokens": {"map": "adaptive"}}},
        "2026-11-01",
    )  # fmt: skip


def gpt_6() -> Any:
    return entry_from_json(
        "openai",
        "gpt-6",
        {"caps": ["tools"],
         "rules": {"temperature": {"reject_unless": {"reasoning.effort": ["none"]}},
                   "top_p": {"clamp": [0, 0.9]}}},
        "2026-11-01",
    )  # fmt: skip


def claude_route(name: str, model: str = "claude-x", **changes: Any) -> RouteEntry:
    r = route(name, model, max_attempts=1, provider=ANTHROPIC)
    deployment = replace(r.deployments[0], max_output_tokens=4096, **changes)
    return replace(r, deployments=(deployment,))


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    monkeypatch.setattr(metrics, "REGISTRY", metrics.Registry())
    new = {"anthropic_version": NEW}
    routes = [
        claude_route("claude"),
        claude_route("claude-new", params=new),
        replace(claude_route("claude-new-strict", params=new), drop_params=False),
        claude_route("claude-params", params={"temperature": 0.2, "stop": ["END"]}),
        claude_route("claude-new-params", params={**new, "temperature": 0.2}),
        claude_route("opus", "claude-opus-4-7", catalog=opus_47(), supports_reasoning=True),
    ]
    gpt6 = route("gpt6", "gpt-6", max_attempts=1, provider=RESPONSES)
    gpt6 = replace(gpt6, deployments=(replace(gpt6.deployments[0], catalog=gpt_6()),))
    registry.install(snapshot(*routes, gpt6))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "resp.test":
            return httpx.Response(200, json=RESPONSES_ANSWER)
        return anthropic_rules.refused(request) or httpx.Response(200, json=MESSAGES_ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield records, seen
    http.use_transport(None)


async def send(dialect: str, body: dict, version: str | None = None) -> service.Reply:
    headers = {"anthropic-version": version} if version else {}
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), headers, service.Caller(key=MASTER)
    )
    assert isinstance(reply, service.Reply)
    return reply


def sent(seen: list[httpx.Request]) -> tuple[str, dict[str, Any]]:
    """The last upstream request's anthropic-version and body."""
    request = seen[-1]
    return request.headers.get("anthropic-version", ""), orjson.loads(request.content)


def notes(rec: Record) -> dict[str, str]:
    return {n["field"]: n["action"] for n in rec.translation or []}


HI = [{"role": "user", "content": "Hi"}]


# --- the version is the deployment's, never the caller's ------------------------------


async def test_a_2026_client_is_sent_as_the_deployments_version(upstream) -> None:
    """A client on 2026-10-21 whose body carries temperature (a route default, an
    older client's extra body) was forwarded with its version: a 400 upstream."""
    records, seen = upstream
    reply = await send(
        "anthropic", {"model": "claude", "max_tokens": 9, "temperature": 0.3, "messages": HI}, NEW
    )
    assert reply.status == 200, reply.body
    version, body = sent(seen)
    assert version == OLD and body["temperature"] == 0.3  # 2023-06-01 takes it
    # control: the same client on a deployment that speaks 2026-10-21 gets it dropped
    reply = await send(
        "anthropic",
        {"model": "claude-new", "max_tokens": 9, "temperature": 0.3, "messages": HI},
        NEW,
    )
    assert reply.status == 200, reply.body
    version, body = sent(seen)
    assert version == NEW and "temperature" not in body
    assert notes(records[-1]) == {"temperature": "dropped"}


async def test_an_openai_clients_temperature_never_reaches_a_2026_upstream(upstream) -> None:
    records, seen = upstream
    chat = {"model": "claude-new", "temperature": 0.7, "top_p": 0.9, "messages": HI}
    reply = await send("openai", chat)
    assert reply.status == 200, reply.body
    version, body = sent(seen)
    assert version == NEW
    assert "temperature" not in body and "top_p" not in body
    assert notes(records[-1]) == {"temperature": "dropped", "top_p": "dropped"}
    metrics.observe(records[-1])  # (what the journal does with each record)
    text = metrics.render(lambda: {})
    line = (
        'switchyard_translation_dropped_total{route="claude-new",field="temperature",'
        'action="dropped"} 1'
    )
    assert line in text
    # control: the 2023-06-01 deployment gets them, and nothing is noted
    reply = await send("openai", {**chat, "model": "claude"})
    assert reply.status == 200
    version, body = sent(seen)
    assert (version, body["temperature"], body["top_p"]) == (OLD, 0.7, 0.9)
    assert records[-1].translation is None


async def test_a_strict_route_refuses_in_the_callers_format_before_any_call(upstream) -> None:
    _, seen = upstream
    reply = await send("openai", {"model": "claude-new-strict", "temperature": 0.7, "messages": HI})
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "temperature"
    assert "2026-10-21" in error["message"] and "strict" in error["message"]
    assert seen == []
    anthropic = await send(
        "anthropic",
        {"model": "claude-new-strict", "max_tokens": 9, "top_k": 5, "messages": HI},
        NEW,
    )
    assert anthropic.status == 400
    assert orjson.loads(anthropic.body)["error"]["type"] == "invalid_request_error"
    assert seen == []
    # control: nothing to drop, the strict route serves
    reply = await send("openai", {"model": "claude-new-strict", "messages": HI})
    assert reply.status == 200 and len(seen) == 1


# --- the deployment's params reach Anthropic, held to its version ---------------------


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_deployment_params_reach_an_anthropic_upstream(upstream, dialect) -> None:
    """A LiteLLM config's temperature and stop were ignored on Anthropic upstreams
    (translated and passed through alike)."""
    records, seen = upstream
    body: dict[str, Any] = {"model": "claude-params", "messages": HI}
    if dialect == "anthropic":
        body["max_tokens"] = 9
    reply = await send(dialect, body)
    assert reply.status == 200, reply.body
    _, sent_body = sent(seen)
    assert sent_body["temperature"] == 0.2 and sent_body["stop_sequences"] == ["END"]
    # the request's own value wins over the deployment's default
    reply = await send(dialect, {**body, "temperature": 0.9})
    assert sent(seen)[1]["temperature"] == 0.9
    # a 2026-10-21 deployment leaves its temperature out, noted, never refused
    reply = await send(dialect, {**body, "model": "claude-new-params"})
    assert reply.status == 200, reply.body
    version, sent_body = sent(seen)
    assert version == NEW and "temperature" not in sent_body
    assert notes(records[-1]) == {"temperature (deployment params)": "dropped"}


# --- what 2026-10-21 refuses in the history --------------------------------------------


async def test_assistant_documents_and_user_citations_are_conformed(upstream) -> None:
    records, seen = upstream
    history = [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "As the page says...",
                    "citations": [
                        {
                            "type": "char_location",
                            "cited_text": "x",
                            "document_index": 0,
                            "start_char_index": 0,
                            "end_char_index": 1,
                        }
                    ],
                }
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "Notes."},
                },
            ],
        },  # fmt: skip
        {"role": "user", "content": "Go on"},
    ]
    body = {"model": "claude-new", "max_tokens": 9, "messages": history}
    reply = await send("anthropic", body, OLD)
    assert reply.status == 200, reply.body
    version, upstream_body = sent(seen)
    assert version == NEW
    assert "citations" not in upstream_body["messages"][0]["content"][0]
    assert upstream_body["messages"][1]["content"] == [{"type": "text", "text": "Notes."}]
    assert notes(records[-1]) == {
        "citations (user text)": "dropped",
        "document (assistant turn)": "rewritten",
    }
    # control: a 2023-06-01 deployment takes the history as sent
    reply = await send("anthropic", {**body, "model": "claude"}, OLD)
    assert reply.status == 200
    assert sent(seen)[1]["messages"] == history


# --- per-model rules from the catalog ----------------------------------------------------


async def test_a_budget_becomes_adaptive_thinking_on_opus_4_7(upstream) -> None:
    records, seen = upstream
    thinking = {"type": "enabled", "budget_tokens": 3000}
    reply = await send(
        "anthropic",
        {"model": "opus", "max_tokens": 9000, "thinking": thinking, "messages": HI},
        OLD,
    )
    assert reply.status == 200, reply.body
    _, body = sent(seen)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "low"}  # 3000 is nearest 2048
    assert notes(records[-1]) == {"thinking.budget_tokens": "rewritten"}
    # translated: an OpenAI client's effort on the same model
    reply = await send("openai", {"model": "opus", "reasoning_effort": "high", "messages": HI})
    assert reply.status == 200, reply.body
    _, body = sent(seen)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "high"}
    # control: adaptive thinking as the client asked goes as is, with no note
    reply = await send(
        "anthropic",
        {"model": "opus", "max_tokens": 9, "thinking": {"type": "adaptive"}, "messages": HI},
    )
    assert reply.status == 200
    assert sent(seen)[1]["thinking"] == {"type": "adaptive"}
    assert records[-1].translation is None


async def test_a_rejected_unless_rule_drops_temperature_on_the_responses_api(upstream) -> None:
    records, seen = upstream
    reply = await send(
        "openai",
        {"model": "gpt6", "temperature": 0.4, "top_p": 0.99, "messages": HI},
    )  # no effort said: not "none", so the temperature cannot go
    assert reply.status == 200, reply.body
    body = orjson.loads(seen[-1].content)
    assert "temperature" not in body
    assert body["top_p"] == 0.9  # clamped
    assert notes(records[-1]) == {"temperature": "dropped", "top_p": "rewritten"}
    # control: what the rules allow goes unchanged
    reply = await send("openai", {"model": "gpt6", "top_p": 0.5, "messages": HI})
    assert orjson.loads(seen[-1].content)["top_p"] == 0.5
    assert records[-1].translation is None


# --- what a Gemini model refuses (the mock on 127.0.0.1 refuses it as Google does) -------


@pytest.fixture
def gemini(gemini_mock, monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    monkeypatch.setattr(metrics, "REGISTRY", metrics.Registry())
    gemini_mock.reset()
    http.use_transport(None)
    gem = ProviderEntry(904, "gem", "gemini", gemini_mock.url, gemini_mock.api_key, {}, "", None)
    params = {"temperature": 0.2, "top_k": 40, "seed": 3}

    def gemini_route(name: str, model: str) -> RouteEntry:
        r = route(name, model, max_attempts=1, provider=gem)
        catalog = entry_for(KindVendor("gemini"), "", model)  # the bundled catalog's
        deployment = replace(r.deployments[0], catalog=catalog, params=params)
        return replace(r, deployments=(deployment,))

    registry.install(
        snapshot(
            gemini_route("flash-37", "gemini-3.7-flash"),
            gemini_route("flash-25", "gemini-2.5-flash"),
        )
    )
    yield records, gemini_mock


@pytest.mark.parametrize("stream", [False, True])
async def test_an_openai_clients_temperature_never_reaches_a_gemini_model_that_refuses_it(
    gemini, stream: bool
) -> None:
    """gemini-3.7-flash fixes its sampling (the catalog's ``rejects``): the caller's
    temperature and the deployment's temperature and top_k were sent as
    ``generationConfig`` (the Google target lost ``refuses``) and Google answered 400."""
    records, mock = gemini
    chat = {"model": "flash-37", "temperature": 0.7, "messages": HI, "stream": stream}
    reply = await service.handle(
        "chat", "openai", orjson.dumps(chat), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200
    if isinstance(reply, service.StreamReply):
        streamed = b"".join([c async for c in reply.chunks]).decode()
        assert "".join(re.findall(r'"content":"([^"]*)"', streamed)) == "Hi from Gemini."
    else:
        assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "Hi from Gemini."
    assert mock.last.body["generationConfig"] == {"seed": 3}
    assert notes(records[-1]) == {
        "temperature": "dropped",
        "temperature (deployment params)": "dropped",
        "top_k (deployment params)": "dropped",
    }
    # control: a model that takes them gets them (a Google deployment's params win over
    # the request's, as on OpenAI-compatible upstreams)
    chat = {**chat, "model": "flash-25"}
    reply = await service.handle(
        "chat", "openai", orjson.dumps(chat), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200
    if isinstance(reply, service.StreamReply):
        [c async for c in reply.chunks]
    assert mock.last.body["generationConfig"] == {"temperature": 0.2, "topK": 40, "seed": 3}
    assert records[-1].translation is None


# --- units: the body rules a passthrough gets; Bedrock's versions ------------------------


def deployment(**changes: Any) -> DeploymentEntry:
    return claude_route("x", **changes).deployments[0]


def test_body_rules_rename_clamp_and_reject() -> None:
    from gateway.core import mediation

    rules = entry_from_json(
        "openai",
        "m",
        {"rules": {"max_tokens": {"rename": "max_completion_tokens"},
                   "temperature": {"clamp": [0, 1]}, "seed": {"reject": True},
                   "top_p": {"accept": True}}},
        "",
    )  # fmt: skip
    target = replace(deployment(), provider=RESPONSES, catalog=rules)
    adapter = AnthropicProvider(ANTHROPIC)
    body = {"model": "m", "max_tokens": 5, "temperature": 1.5, "seed": 1, "top_p": 0.3}
    plain = ChatRequest(model="m", messages=[Message("user", [Text("Hi")])])
    r = claude_route("x")
    out, found = mediation.for_body(body, plain, adapter, r, target)
    assert out == {"model": "m", "max_completion_tokens": 5, "temperature": 1.0, "top_p": 0.3}
    assert found is not None
    assert {n["field"]: n["action"] for n in found} == {
        "max_tokens": "rewritten",
        "temperature": "rewritten",
        "seed": "dropped",
    }
    assert body["temperature"] == 1.5  # the caller's dict is left as it was
    # control: without rules, a 2023-06-01 deployment's body is the same object
    same, none = mediation.for_body(body, plain, adapter, r, deployment())
    assert same is body and none is None


def test_bedrock_takes_2026_only_for_claude_4_7_and_later() -> None:
    opus_45 = entry_from_json("bedrock", "anthropic.claude-opus-4-5", {}, "")
    opus_47 = entry_from_json(
        "bedrock", "anthropic.claude-opus-4-7", {"api_versions": [OLD, NEW]}, ""
    )
    problems = BedrockProvider.param_problems({"anthropic_version": NEW}, opus_45)
    assert "does not take API version 2026-10-21" in problems["anthropic_version"]
    assert BedrockProvider.param_problems({"anthropic_version": NEW}, opus_47) == {}
    assert BedrockProvider.param_problems({"anthropic_version": OLD}, opus_45) == {}
    # the version's rules hold for the deployment's params on Bedrock too
    bedrock = ProviderEntry(7, "br", "bedrock", "", "", {}, "", None)
    entry = replace(
        deployment(params={"anthropic_version": NEW, "temperature": 0.5, "maxTokens": 9}),
        provider=bedrock,
        catalog=opus_47,
        model="anthropic.claude-opus-4-7",
    )
    target = BedrockProvider(bedrock).target(entry)
    assert dict(target.params) == {"maxTokens": 9}


def test_anthropic_params_are_checked_when_saved() -> None:
    assert AnthropicProvider.param_problems({"anthropic_version": "2099-01-01"}, None) == {
        "anthropic_version": "'2099-01-01' is not an API version (one of 2023-06-01, 2026-10-21)"
    }
    refused = AnthropicProvider.param_problems({"anthropic_version": NEW, "top_k": 5}, None)
    assert "refuses top_k" in refused["top_k"]
    assert AnthropicProvider.param_problems({"anthropic_version": OLD, "top_k": 5}, None) == {}
