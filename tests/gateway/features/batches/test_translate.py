"""Batch lines across wire formats (``translate``) for Bedrock batch inference, and the
job's output read back onto lines (``upstreams.bedrock``): an OpenAI chat, Responses or
Message Batch line becomes a Converse body (the route's defaults in, no model id, never
the deployment's AWS credentials), a Converse answer comes back in the line's format
under the caller's model name, and a record's error or a line that could not go up is
an errored line saying why."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from gateway.access import registry
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import InvalidRequest
from gateway.features.batches import translate
from gateway.features.batches.upstreams import bedrock
from gateway.models import Deployment, Provider, Route
from gateway.models.batches import Batch

pytestmark = pytest.mark.django_db

CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hi there"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
}


@pytest.fixture
def deployment(snapshot_reset) -> DeploymentEntry:
    provider = Provider(name="bed", kind="bedrock", settings={"aws_region_name": "us-east-1"})
    provider.set_secret("aws-secret-never-in-a-body")
    provider.save()
    route = Route.objects.create(name="claude-bed", default_params={"temperature": 0.3})
    Deployment.objects.create(
        route=route,
        provider=provider,
        model="anthropic.claude-x",
        params={"aws_access_key_id": "AKIAHIDDEN", "aws_secret_access_key": "hidden-secret"},
    )
    registry.rebuild()
    return registry.current().routes["claude-bed"].deployments[0]


def test_lines_of_each_format_become_converse_bodies(deployment) -> None:
    chat = {"model": "claude-bed", "max_tokens": 20,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "hello"}]}  # fmt: skip
    body = translate.upstream_request("/v1/chat/completions", chat, deployment, "bedrock")
    assert body["messages"] == [{"role": "user", "content": [{"text": "hello"}]}]
    assert body["system"] == [{"text": "Be brief."}]
    assert body["inferenceConfig"] == {"maxTokens": 20, "temperature": 0.3}  # the route's
    text = orjson.dumps(body).decode()
    assert "modelId" not in body and "model" not in body
    assert "AKIAHIDDEN" not in text and "hidden-secret" not in text  # steering params stay out
    message = {
        "model": "claude-bed",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "yo"}],
    }
    body = translate.upstream_request("/v1/messages", message, deployment, "bedrock")
    assert body["messages"][0]["content"] == [{"text": "yo"}]
    assert body["inferenceConfig"]["maxTokens"] == 9
    response = {"model": "claude-bed", "input": "hey", "instructions": "Short."}
    body = translate.upstream_request("/v1/responses", response, deployment, "bedrock")
    assert body["messages"][0]["content"] == [{"text": "hey"}]
    assert body["system"] == [{"text": "Short."}]
    assert translate.translates("/v1/chat/completions", "bedrock")
    assert not translate.translates("/v1/embeddings", "bedrock")


def test_what_converse_cannot_carry_is_refused_naming_it(deployment) -> None:
    line = {"model": "claude-bed", "n": 2, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(InvalidRequest, match="n > 1"):
        translate.upstream_request("/v1/chat/completions", line, deployment, "bedrock")


def test_converse_answers_come_back_in_the_lines_format(deployment) -> None:
    chat = {"model": "claude-bed", "messages": [{"role": "user", "content": "hello"}]}
    answer, usage = translate.client_answer(
        "/v1/chat/completions", chat, CONVERSE_ANSWER, deployment, "bedrock"
    )
    assert answer["object"] == "chat.completion" and answer["model"] == "claude-bed"
    assert answer["choices"][0]["message"]["content"] == "hi there"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert (usage.input_tokens, usage.output_tokens) == (12, 3)
    message = {
        "model": "claude-bed",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
    }
    answer, _ = translate.client_answer(
        "/v1/messages", message, CONVERSE_ANSWER, deployment, "bedrock"
    )
    assert answer["type"] == "message" and answer["content"][0]["text"] == "hi there"
    assert answer["usage"]["output_tokens"] == 3 and answer["stop_reason"] == "end_turn"
    response = {"model": "claude-bed", "input": "hey"}
    answer, _ = translate.client_answer(
        "/v1/responses", response, CONVERSE_ANSWER, deployment, "bedrock"
    )
    assert (
        answer["object"] == "response" and answer["output"][0]["content"][0]["text"] == "hi there"
    )


def test_job_output_onto_lines(deployment) -> None:
    now = timezone.now()
    batch = Batch(id="batch_t", endpoint="/v1/chat/completions", created_at=now,
                  expires_at=now + timedelta(hours=24))  # fmt: skip
    ask = {"model": "claude-bed", "messages": [{"role": "user", "content": "q"}]}
    lines = [(1, "a", ask), (2, "b", ask), (3, "c", {**ask, "n": 3}), (4, "d", ask)]
    parsed = bedrock._parsed(batch, deployment, lines)
    records = bedrock._records(deployment, asyncio.run(bedrock._fetched(parsed)))
    assert [orjson.loads(t)["recordId"] for t in records.splitlines()] == [
        "00000000000", "00000000001", "00000000003"
    ]  # fmt: skip  # the line Converse cannot carry never goes up
    output = b"\n".join([
        orjson.dumps({"recordId": "00000000001", "modelInput": {}, "modelOutput": CONVERSE_ANSWER}),
        orjson.dumps({"recordId": "00000000000", "modelInput": {},
                      "error": {"errorCode": 429, "errorMessage": "Too many tokens"}}),
    ])  # fmt: skip
    results = asyncio.run(bedrock._collected(batch, deployment, lines, output, "cancelled"))
    assert results["b"][0:2] == ("succeeded", 200)
    assert results["b"][2]["choices"][0]["message"]["content"] == "hi there"
    assert results["a"] == ("errored", 429, {"error": {
        "message": "Too many tokens", "type": "invalid_request_error", "code": None}})  # fmt: skip
    outcome, status, body = results["c"]
    assert (outcome, status) == ("errored", 400) and "n > 1" in body["error"]["message"]
    assert "d" not in results  # no record (the job was stopped first): cancelled or expired
    ended = asyncio.run(bedrock._collected(batch, deployment, lines, output, "completed"))
    assert ended["d"][0:2] == ("errored", 502)  # a completed job gave it no record
    assert "no record" in ended["d"][2]["error"]["message"]
    batch.endpoint = "/v1/messages"
    errored = bedrock._results(batch, deployment, lines[:1], output)["a"]
    assert errored[2]["type"] == "error" and errored[2]["error"]["message"] == "Too many tokens"
