"""Embeddings and legacy completions are forwarded untranslated, so their ``input`` and
``prompt`` are checked first: a malformed one is a 400 in the OpenAI envelope naming
the field, and the upstream is never called. Well-formed bodies (strings, string
arrays, token ids as LangChain's OpenAIEmbeddings sends them) still pass through."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.base.errors import InvalidRequest
from gateway.codecs.openai_chat.inputs import check_completions, check_embeddings
from gateway.core import service
from tests.gateway.entries import route, snapshot

GOOD_INPUTS = ["hello", ["a", "b"], [15339, 1917], [[15339, 1917], [1]]]
BAD_INPUTS = [5, None, [], "", [""], [None], [1, "a"], [[]], [[1], "a"], {"a": 1}, [True], [-1]]


@pytest.mark.parametrize("value", GOOD_INPUTS)
def test_well_formed_inputs_pass(value) -> None:
    check_embeddings({"model": "m", "input": value})
    check_completions({"model": "m", "prompt": value})


@pytest.mark.parametrize("value", BAD_INPUTS)
def test_malformed_embedding_input_names_the_field(value) -> None:
    with pytest.raises(InvalidRequest) as raised:
        check_embeddings({"model": "m", "input": value})
    assert raised.value.param == "input" and raised.value.status == 400


def test_missing_input_or_prompt_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="input is required"):
        check_embeddings({"model": "m"})
    with pytest.raises(InvalidRequest, match="prompt is required"):
        check_completions({"model": "m"})


def test_an_empty_prompt_is_a_valid_prompt_but_a_bad_stream_flag_is_not() -> None:
    check_completions({"prompt": "", "stream": None})
    with pytest.raises(InvalidRequest) as raised:
        check_completions({"prompt": "x", "stream": "yes"})
    assert raised.value.param == "stream"


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    monkeypatch.setattr(journal, "record", lambda record: None)
    registry.install(snapshot(route("up", "up-1", max_attempts=1)))
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = orjson.loads(request.content)
        if request.url.path.endswith("/embeddings"):
            return httpx.Response(
                200,
                json={
                    "object": "list",
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
                    "model": body["model"],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
            )
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "text_completion",
                "model": body["model"],
                "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
            },
        )

    http.use_transport(httpx.MockTransport(answer))
    yield seen
    http.use_transport(None)


async def call(endpoint: str, body: dict) -> service.Reply:
    raw = orjson.dumps({"model": "up", **body})
    return await service.handle(endpoint, "openai", raw, {}, service.Caller(key=MASTER))


@pytest.mark.parametrize(
    "endpoint, body, param",
    [
        ("embeddings", {"input": 5}, "input"),
        ("embeddings", {"input": []}, "input"),
        ("embeddings", {}, "input"),
        ("completions", {"prompt": [None]}, "prompt"),
        ("completions", {}, "prompt"),
    ],
)
async def test_a_malformed_body_is_a_400_and_never_reaches_the_upstream(
    upstream, endpoint, body, param
) -> None:
    reply = await call(endpoint, body)
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert upstream == []


async def test_token_id_inputs_still_pass_through_unchanged(upstream) -> None:
    reply = await call("embeddings", {"input": [[15339, 1917]]})
    assert reply.status == 200
    (request,) = upstream
    assert orjson.loads(request.content)["input"] == [[15339, 1917]]
    reply = await call("completions", {"prompt": [1, 2, 3]})
    assert reply.status == 200 and orjson.loads(upstream[1].content)["prompt"] == [1, 2, 3]
