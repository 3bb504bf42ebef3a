"""The Responses API's own jobs in process (``service.handle``, mock upstreams on an
httpx transport): ``compact`` passed through to a Responses API upstream's own
``/responses/compact`` (only the compact body's fields, the deployment's model), or the
route's model summarising where the upstream has none (a 404 there) or speaks another
API; an empty summary a 502, an empty request a 400; ``prepare``'s warm-up turn with no
input validated as an empty one. ``input_tokens``: ``test_input_tokens.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http, lifecycle
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import service
from gateway.features.responses import compaction, jobs
from tests.gateway.entries import route, snapshot

RESPONSES = ProviderEntry(
    971, "resp", "openai_responses", "http://resp.test/v1", "sk-up", {}, "", None
)
BARE = ProviderEntry(972, "bare", "openai_responses", "http://bare.test/v1", "", {}, "", None)
CHAT = ProviderEntry(973, "chat", "openai", "http://chat.test/v1", "", {}, "", None)
NATIVE = {
    "id": "resp_up", "object": "response.compaction", "created_at": 1,
    "output": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
               {"type": "compaction", "id": "cmp_up", "encrypted_content": "opaque"}],
    "usage": {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12},
}  # fmt: skip


class Upstreams:
    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.summary = "We agreed on Tuesday."

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        host, path = request.url.host, request.url.path
        if host == "resp.test" and path.endswith("/responses/compact"):
            return httpx.Response(200, json=NATIVE)
        if path.endswith("/chat/completions"):
            return httpx.Response(200, json={
                "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.summary}}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
            })  # fmt: skip
        if host == "bare.test" and path.endswith("/responses"):
            return httpx.Response(200, json={
                "id": "resp_sum", "object": "response", "created_at": 1, "status": "completed",
                "model": "m", "output": [{"type": "message", "id": "msg_1", "role": "assistant",
                    "status": "completed", "content": [{"type": "output_text", "text": self.summary,
                                                        "annotations": []}]}],
                "usage": {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25},
            })  # fmt: skip
        return httpx.Response(404, json={"error": {"message": f"no {path} here"}})


@pytest.fixture
def upstreams(monkeypatch: pytest.MonkeyPatch, snapshot_reset: None) -> Iterator[Upstreams]:
    async def started() -> None:  # the snapshot below is the one in force
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(journal, "record", lambda record: None)
    registry.install(
        snapshot(
            route("native", "up-native", provider=RESPONSES, max_attempts=1),
            route("bare", "up-bare", provider=BARE, max_attempts=1),
            route("chat", "up-chat", provider=CHAT, max_attempts=1),
        )
    )
    fake = Upstreams()
    http.use_transport(httpx.MockTransport(fake))
    yield fake
    http.use_transport(None)


async def compact(**body: Any) -> Any:
    reply = await service.handle(
        "compact", "responses", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    return reply.status, orjson.loads(reply.body)


async def test_a_responses_upstream_compacts_natively(upstreams: Upstreams) -> None:
    status, answer = await compact(
        model="native", input="hi", instructions="Be brief.", temperature=0.3, store=True
    )
    assert status == 200 and answer["output"] == NATIVE["output"]
    [request] = upstreams.seen
    assert str(request.url) == "http://resp.test/v1/responses/compact"
    sent = orjson.loads(request.content)
    assert sent["model"] == "up-native" and sent["instructions"] == "Be brief."
    assert set(sent) == {"model", "input", "instructions"}  # only the compact body's fields
    assert sent["input"][0]["content"] == [{"type": "input_text", "text": "hi"}]
    assert "id" not in sent["input"][0]  # the gateway's ids stay here


@pytest.mark.parametrize("name", ["bare", "chat"])
async def test_without_native_compaction_the_route_s_model_summarises(
    upstreams: Upstreams, name: str
) -> None:
    status, answer = await compact(
        model=name, input=[{"role": "user", "content": "When do we launch?"}]
    )
    assert status == 200 and answer["object"] == "response.compaction"
    kept, item = answer["output"]
    assert kept["role"] == "user" and item["type"] == "compaction"
    assert compaction.open_items([item])[0]["content"][0]["text"].endswith("We agreed on Tuesday.")
    summarised = "/responses" if name == "bare" else "/chat/completions"
    assert upstreams.seen[-1].url.path.endswith(summarised)
    if name == "bare":  # its own compaction was asked first, and had none
        assert upstreams.seen[0].url.path.endswith("/responses/compact")
    assert answer["usage"]["input_tokens"] == 20


async def test_an_empty_summary_is_a_502(upstreams: Upstreams) -> None:
    upstreams.summary = "   "
    status, answer = await compact(model="chat", input="hi")
    assert status == 502 and "empty summary" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "chat"}, "input or previous_response_id is required"),
        ({"model": "chat", "input": []}, "at least one item"),
    ],
)
async def test_nothing_to_compact_is_a_400(
    upstreams: Upstreams, body: dict[str, Any], words: str
) -> None:
    status, answer = await compact(**body)
    assert status == 400 and words in answer["error"]["message"] and upstreams.seen == []


def test_a_warm_up_without_input_is_checked_as_an_empty_turn() -> None:
    empty = {"type": "message", "role": "user", "content": ""}
    for missing in ({}, {"input": []}, {"input": ""}, {"input": None}):
        assert jobs.PrepareJob._checked({"model": "m", **missing})["input"] == [empty]
    given = {"model": "m", "input": "hi"}
    assert jobs.PrepareJob._checked(given) is given
