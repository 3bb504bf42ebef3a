"""Upstreams that say "a stop sequence ended the turn" without saying which (Bedrock's
``stop_sequence`` stopReason for most models, Cohere's ``STOP_SEQUENCE``): the upstream
call (``gateway.core.upstream``) names it when it can be told (one stop asked), so an
Anthropic client reads ``stop_sequence`` set, and leaves it unset when it cannot."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.streaming import afold_events
from gateway.base.types import ChatRequest, Message, Text
from gateway.core.upstream import UpstreamCall
from gateway.providers.base import Exchange, adapter_for
from tests.aws import ACCESS_KEY, REGION, SECRET_KEY

from ..entries import deployment, route

KEYS = {
    "aws_access_key_id": ACCESS_KEY,
    "aws_secret_access_key": SECRET_KEY,
    "aws_region_name": REGION,
}
BEDROCK = ProviderEntry(9, "aws", "bedrock", "http://bedrock.test", "", {}, "", None)
COHERE = ProviderEntry(9, "co", "cohere", "http://cohere.test", "co-secret-0123", {}, "", None)

BEDROCK_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "1, 2, 3"}]}},
    "stopReason": "stop_sequence",
    "usage": {"inputTokens": 5, "outputTokens": 4, "totalTokens": 9},
}
COHERE_ANSWER = {
    "id": "co-1",
    "finish_reason": "STOP_SEQUENCE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "1, 2, 3"}]},
    "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 4}},
}


@pytest.fixture(autouse=True)
def _no_transport_leak():
    yield
    http.use_transport(None)


def request(*stops: str, stream: bool = False) -> ChatRequest:
    return ChatRequest(
        model="r", messages=[Message("user", [Text("count")])], stop=list(stops), stream=stream
    )


def upstream_call(entry: ProviderEntry, dep: DeploymentEntry, asked: ChatRequest) -> UpstreamCall:
    """The call as the pipeline prepares it."""
    return UpstreamCall.prepare(asked, adapter_for(entry), route("r", dep.model), dep)


@pytest.mark.parametrize(
    ("entry", "params", "answer"),
    [(BEDROCK, KEYS, BEDROCK_ANSWER), (COHERE, {}, COHERE_ANSWER)],
    ids=["bedrock", "cohere"],
)
@pytest.mark.parametrize(
    ("stops", "named"), [(("4",), "4"), (("4", "\n"), None)], ids=["one", "two"]
)
async def test_the_stop_sequence_is_named_when_it_can_be_told(
    entry: ProviderEntry, params: dict, answer: dict, stops: tuple[str, ...], named: str | None
) -> None:
    http.use_transport(httpx.MockTransport(lambda r: httpx.Response(200, json=answer)))
    dep = deployment("r", "model-x", provider=entry, params=params)
    result = await upstream_call(entry, dep, request(*stops)).complete(Exchange())
    assert result.finish_reason == "stop_sequence" and result.stop_sequence == named
    assert result.parts == [Text("1, 2, 3")]


async def test_a_cohere_stream_names_it_too() -> None:
    events = [
        {"type": "message-start", "id": "co-1", "delta": {"message": {"role": "assistant"}}},
        {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "1, 2, 3"}}}},
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "STOP_SEQUENCE", "usage": COHERE_ANSWER["usage"]}},
    ]  # fmt: skip
    body = b"".join(
        f"event: {e['type']}\ndata: {orjson.dumps(e).decode()}\n\n".encode() for e in events
    )
    http.use_transport(httpx.MockTransport(lambda r: httpx.Response(200, content=body)))
    dep = deployment("r", "command-a", provider=COHERE)
    folded = await afold_events(
        upstream_call(COHERE, dep, request("4", stream=True)).stream(Exchange())
    )
    assert folded.finish_reason == "stop_sequence" and folded.stop_sequence == "4"


@pytest.mark.parametrize(
    ("model", "asks"),
    [("us.anthropic.claude-sonnet-4-v1:0", True), ("amazon.nova-pro-v1:0", False)],
)
async def test_claude_on_bedrock_is_asked_which_stop_matched(model: str, asks: bool) -> None:
    """With several stops the text cannot tell: Claude on Bedrock says it in
    ``additionalModelResponseFields`` when the request names the field path."""
    bodies: list[dict] = []
    answer = {**BEDROCK_ANSWER, "additionalModelResponseFields": {"stop_sequence": "\n"}}

    def handler(r: httpx.Request) -> httpx.Response:
        bodies.append(orjson.loads(r.content))
        return httpx.Response(200, json=answer if asks else BEDROCK_ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    dep = deployment("r", model, provider=BEDROCK, params=KEYS)
    result = await adapter_for(BEDROCK).complete(request("4", "\n"), dep, Exchange())
    if asks:
        assert bodies[0]["additionalModelResponseFieldPaths"] == ["/stop_sequence"]
        assert result.stop_sequence == "\n"
    else:
        assert "additionalModelResponseFieldPaths" not in bodies[0]
        assert result.stop_sequence is None
