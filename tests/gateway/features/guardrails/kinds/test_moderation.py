"""The moderation kind through one of the gateway's routes (an in-process snapshot, a
mock OpenAI-compatible upstream): the route's deployment, URL and credentials; flagged
blocks naming the categories, not flagged passes; categories and score thresholds; a
missing route, a non-OpenAI route, an upstream failure or a malformed answer is a
failed check, never a pass."""

from __future__ import annotations

from itertools import count
from typing import Any

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import GuardrailEntry, ProviderEntry
from gateway.base.errors import GuardrailBlocked, GuardrailUnavailable
from gateway.features.guardrails import engine, kinds
from gateway.features.guardrails.kinds import ConfigError, Context
from tests.gateway.entries import route, snapshot

PROVIDER = ProviderEntry(71, "mods", "openai", "http://mod.test/v1", "mod-secret", {}, "", None)
ANTHROPIC = ProviderEntry(72, "claude", "anthropic", "http://claude.test", "a-secret", {}, "", None)
_ids = count(6000)
CATEGORIES = ("harassment", "violence", "sexual", "self-harm")


def result_for(text: str) -> dict[str, Any]:
    scores = dict.fromkeys(CATEGORIES, 0.01)
    if "hurt" in text:
        scores["violence"] = 0.93
    if "rude" in text:
        scores["harassment"] = 0.42  # under the upstream's own line: not flagged
    flags = {name: score > 0.5 for name, score in scores.items()}
    return {"flagged": any(flags.values()), "categories": flags, "category_scores": scores}


@pytest.fixture
def upstream(snapshot_reset):
    seen: list[httpx.Request] = []
    state: dict[str, Any] = {"status": 200, "answer": None}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path != "/v1/moderations":
            return httpx.Response(404, json={"error": {"message": "no such path"}})
        if request.headers.get("authorization") != "Bearer mod-secret":
            return httpx.Response(401, json={"error": {"message": "bad key"}})
        if state["status"] != 200:
            return httpx.Response(
                state["status"], json={"error": {"message": "moderation is down, key mod-secret"}}
            )
        body = orjson.loads(request.content)
        if state["answer"] is not None:
            return httpx.Response(200, json=state["answer"])
        results = [result_for(text) for text in body["input"]]
        return httpx.Response(
            200, json={"id": "modr-1", "model": body["model"], "results": results}
        )

    http.use_transport(httpx.MockTransport(handler))
    snap = snapshot(
        route("mod", "omni-moderation-latest", provider=PROVIDER),
        route("claude-only", "claude-x", provider=ANTHROPIC),
    )
    registry.install(snap)
    yield seen, state


def guard(fail_open: bool = False, **params: Any) -> GuardrailEntry:
    settings = {"route": "mod", **params}
    return GuardrailEntry(
        id=next(_ids),
        name="moderate",
        kind="openai_moderation",
        modes=frozenset({"pre_call"}),
        fail_open=fail_open,
        params=kinds.validate("openai_moderation", ["pre_call"], settings)[1],
    )


def context() -> Context:
    return Context(input_type="request", mode="pre_call", route="m", model="m")


async def check(entry: GuardrailEntry, texts: list[str]) -> tuple[list[str], list[dict]]:
    notes = engine.Notes()
    checked = await engine.run([entry], texts, context(), notes)
    return checked, notes.as_list()


async def test_not_flagged_passes_and_the_route_s_upstream_is_asked(upstream):
    seen, _ = upstream
    checked, notes = await check(guard(), ["hello", "how are you"])
    assert checked == ["hello", "how are you"] and notes[0]["verdict"] == "none"
    (request,) = seen
    assert str(request.url) == "http://mod.test/v1/moderations"
    body = orjson.loads(request.content)
    assert body == {"model": "omni-moderation-latest", "input": ["hello", "how are you"]}


async def test_flagged_blocks_naming_the_categories(upstream):
    with pytest.raises(GuardrailBlocked) as refused:
        await check(guard(), ["fine", "I will hurt them"])
    assert "violence" in refused.value.message
    assert "hurt" not in refused.value.message


async def test_only_the_named_categories_block(upstream):
    checked, _ = await check(guard(categories=["sexual", "self-harm"]), ["I will hurt them"])
    assert checked == ["I will hurt them"]
    with pytest.raises(GuardrailBlocked):
        await check(guard(categories=["violence"]), ["I will hurt them"])


async def test_a_score_threshold_blocks_under_the_upstreams_own_line(upstream):
    checked, _ = await check(guard(), ["you are rude"])  # not flagged upstream
    assert checked == ["you are rude"]
    with pytest.raises(GuardrailBlocked) as refused:
        await check(guard(score_threshold=0.4), ["you are rude"])
    assert "harassment" in refused.value.message
    checked, _ = await check(guard(score_threshold=0.4, categories=["violence"]), ["you are rude"])
    assert checked == ["you are rude"]


async def test_an_unknown_route_is_a_clear_failure(upstream):
    with pytest.raises(GuardrailUnavailable) as refused:
        await check(guard(route="nowhere"), ["hello"])
    assert "'nowhere'" in refused.value.message and "does not exist" in refused.value.message
    checked, notes = await check(guard(route="nowhere", fail_open=True), ["hello"])
    assert checked == ["hello"] and notes[0]["bypassed"] is True


async def test_a_route_without_an_openai_compatible_deployment_fails(upstream):
    seen, _ = upstream
    with pytest.raises(GuardrailUnavailable) as refused:
        await check(guard(route="claude-only"), ["hello"])
    assert "OpenAI-compatible" in refused.value.message and seen == []


async def test_an_upstream_error_fails_closed_without_the_secret(upstream):
    _, state = upstream
    state["status"] = 500
    with pytest.raises(GuardrailUnavailable) as refused:
        await check(guard(), ["hello"])
    assert "mod-secret" not in refused.value.message


@pytest.mark.parametrize(
    "answer",
    [
        {"results": []},  # no result per text
        {"nothing": True},
        {"results": [{"categories": {}}]},  # no flagged
        [1, 2],
    ],
)
async def test_a_malformed_answer_is_a_failure_never_a_pass(upstream, answer):
    _, state = upstream
    state["answer"] = answer
    with pytest.raises(GuardrailUnavailable):
        await check(guard(), ["I will hurt them"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params.route"),
        ({"route": 5}, "params.route"),
        ({"route": "mod", "categories": "violence"}, "params.categories"),
        ({"route": "mod", "categories": ["ok", ""]}, "params.categories[1]"),
        ({"route": "mod", "score_threshold": 2}, "params.score_threshold"),
        ({"route": "mod", "score_threshold": True}, "params.score_threshold"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(params, field):
    with pytest.raises(ConfigError) as refused:
        kinds.validate("openai_moderation", ["pre_call"], params)
    assert refused.value.field == field
