"""A request that names a registry prompt, through the pipeline (in process, a mock
OpenAI upstream) and through the official ``openai`` SDK (``extra_body`` on chat
completions, ``prompt=`` on Responses): the version's messages reach the upstream with
their variables filled in, the version asked for (number, label, ``production``, the
newest) is the one used, the journal row names it, and every mistake is a 400 in the
caller's own format with nothing sent upstream."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http, lifecycle
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.edge import endpoints
from gateway.features.prompts import snapshot as prompt_snapshot
from gateway.features.prompts.entries import PromptEntry, VersionEntry
from tests.gateway.entries import route, snapshot

MASTER_KEY = "sy-master-prompts-test-0123456789"

V1 = VersionEntry(
    1,
    ({"role": "system", "content": "You answer for {{company}}."},
     {"role": "user", "content": "Ticket: {{ ticket }}"}),
    ("company", "ticket"),
)  # fmt: skip
V2 = VersionEntry(
    2,
    ({"role": "system", "content": "You are {{company}}'s concise support agent."},),
    ("company",),
    model="m",
    params={"temperature": 0.2, "max_tokens": 77},
)
V3 = VersionEntry(3, ({"role": "system", "content": "Draft three for {{company}}."},), ("company",))
TRIAGE = PromptEntry("support.triage", {1: V1, 2: V2, 3: V3}, {"production": 2, "staging": 3})
PLAIN = PromptEntry("plain", {1: V1, 3: V3}, {})  # no production label: the newest


def chat_answer(text: str = "fine") -> dict[str, Any]:
    return {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "up-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }  # fmt: skip


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY

    async def started() -> None:  # the snapshot below is the one in force
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(200, json=chat_answer())

    http.use_transport(httpx.MockTransport(handler))
    snap = snapshot(route("m", "up-1", max_attempts=1))
    snap.parts[prompt_snapshot.PART] = {TRIAGE.name: TRIAGE, PLAIN.name: PLAIN}
    registry.install(snap)
    yield seen, recorded
    http.use_transport(None)


async def chat(dialect: str = "openai", **body: Any) -> Any:
    return await service.handle("chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER))


async def test_chat_by_reference_sends_the_production_version_filled_in(upstream) -> None:
    seen, recorded = upstream
    reply = await chat(
        messages=[{"role": "user", "content": "my printer is on fire"}],
        prompt_id="support.triage",
        prompt_variables={"company": "Acme"},
    )
    assert reply.status == 200, reply.body
    sent = seen[0]
    # v2 (production): its system message first, then the request's own; its model
    # (the body named none) and its params (the body set none)
    assert sent["messages"][0] == {
        "role": "system",
        "content": "You are Acme's concise support agent.",
    }
    assert sent["messages"][-1]["content"] == "my printer is on fire"
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 77
    assert not {"prompt_id", "prompt_variables"} & set(sent)  # never sent upstream
    assert (recorded[0].prompt_name, recorded[0].prompt_version) == ("support.triage", 2)


async def test_a_version_number_or_a_label_picks_that_version(upstream) -> None:
    seen, recorded = upstream
    values = {"company": "Acme", "ticket": "T-1"}
    await chat(model="m", prompt_id="support.triage", prompt_version=1, prompt_variables=values)
    await chat(
        model="m", prompt_id="support.triage", prompt_label="staging", prompt_variables=values
    )
    await chat(model="m", prompt_id="plain", prompt_variables=values)
    assert seen[0]["messages"] == [
        {"role": "system", "content": "You answer for Acme."},
        {"role": "user", "content": "Ticket: T-1"},
    ]
    assert seen[1]["messages"] == [{"role": "system", "content": "Draft three for Acme."}]
    assert [r.prompt_version for r in recorded] == [1, 3, 3]  # plain: its newest
    assert "temperature" not in seen[0]  # v1 has no params


async def test_the_request_s_own_params_win_over_the_version_s(upstream) -> None:
    seen, _ = upstream
    await chat(model="m", temperature=1.0, prompt_id="support.triage",
               prompt_variables={"company": "Acme"}, messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    assert seen[0]["temperature"] == 1.0 and seen[0]["max_tokens"] == 77


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"prompt_id": "nope"}, "prompt_id", "no prompt named 'nope'"),
        ({"prompt_id": "support.triage", "prompt_version": 9}, "prompt_id", "has no version 9"),
        ({"prompt_id": "support.triage", "prompt_label": "canary"}, "prompt_id", "no label 'canary'"),
        ({"prompt_id": "support.triage", "prompt_version": 1, "prompt_variables": {"company": "A"}},
         "prompt_variables", "version 1 needs variable ticket"),
        ({"prompt_id": "support.triage", "prompt_variables": "company=A"}, "prompt_variables",
         "must be an object"),
        ({"prompt_id": "support.triage", "prompt_variables": {"company": ["A"]}},
         "prompt_variables", "must be text"),
        ({"prompt_id": 7}, "prompt_id", "must be a prompt's name"),
    ],
)  # fmt: skip
async def test_mistakes_are_a_400_in_the_caller_s_format_and_nothing_is_sent(
    upstream, fields: dict[str, Any], param: str, words: str
) -> None:
    seen, recorded = upstream
    reply = await chat(model="m", messages=[{"role": "user", "content": "hi"}], **fields)
    error = orjson.loads(reply.body)["error"]
    assert reply.status == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == param and words in error["message"], error
    assert seen == [] and recorded[0].status == 400


async def test_anthropic_messages_take_the_system_part_as_system(upstream) -> None:
    seen, recorded = upstream
    reply = await chat(
        "anthropic", model="m", max_tokens=20,
        messages=[{"role": "user", "content": "hello"}],
        prompt_id="support.triage", prompt_version=1,
        prompt_variables={"company": "Acme", "ticket": 42},
    )  # fmt: skip
    assert reply.status == 200, reply.body
    messages = seen[0]["messages"]  # the OpenAI upstream gets it back as a system message
    assert messages[0] == {"role": "system", "content": "You answer for Acme."}
    assert [m["content"] for m in messages[1:]] == ["Ticket: 42", "hello"]
    assert recorded[0].prompt_version == 1


async def test_a_body_without_a_reference_is_untouched(upstream) -> None:
    seen, recorded = upstream
    await chat(model="m", messages=[{"role": "user", "content": "hi"}])
    assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]
    assert recorded[0].prompt_name == "" and recorded[0].prompt_version is None


# --- through the official SDK -----------------------------------------------------------------


def sdk() -> openai.AsyncOpenAI:
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    return openai.AsyncOpenAI(
        base_url="http://gw/v1", api_key=MASTER_KEY, http_client=client, max_retries=0
    )


async def test_the_openai_sdk_sends_a_reference_in_extra_body(upstream) -> None:
    seen, recorded = upstream
    answer = await sdk().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "where is my order?"}],
        extra_body={"prompt_id": "support.triage", "prompt_variables": {"company": "Acme"}},
    )
    assert answer.choices[0].message.content == "fine"
    assert seen[0]["messages"][0]["content"] == "You are Acme's concise support agent."
    assert recorded[0].prompt_version == 2
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}],
            extra_body={"prompt_id": "support.triage", "prompt_version": 1},
        )  # fmt: skip
    assert "needs variables company, ticket" in str(refused.value)


async def test_the_responses_api_s_prompt_object(upstream) -> None:
    seen, recorded = upstream
    answer = await sdk().responses.create(
        model="m",
        input="where is my order?",
        prompt={"id": "support.triage", "version": "1",
                "variables": {"company": "Acme", "ticket": "T-9"}},
    )  # fmt: skip
    assert answer.output_text == "fine"
    sent = seen[0]["messages"]  # the Responses request, translated for the chat upstream
    assert [m["content"] for m in sent] == [
        "You answer for Acme.",
        "Ticket: T-9",
        "where is my order?",
    ]
    assert (recorded[0].prompt_name, recorded[0].prompt_version) == ("support.triage", 1)
    # LiteLLM's spelling works on /v1/responses too
    await sdk().responses.create(
        model="m", input="hi",
        extra_body={"prompt_id": "support.triage", "prompt_variables": {"company": "Z"}},
    )  # fmt: skip
    assert seen[1]["messages"][0]["content"] == "You are Z's concise support agent."
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk().responses.create(model="m", input="hi", prompt={"id": "nope"})
    assert "no prompt named 'nope'" in str(refused.value)


async def test_an_openai_stored_prompt_id_is_left_for_the_upstream(upstream) -> None:
    seen, recorded = upstream
    body = {"model": "m", "input": "hi", "prompt": {"id": "pmpt_abc123", "version": "2"}}
    await chat("responses", **body)
    assert recorded[0].prompt_name == ""  # not ours: no reference journaled
