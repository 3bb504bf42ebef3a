"""A long passed-through body goes upstream as views of the caller's bytes where it holds
the caller's values (``json_layout``), through the whole service: for each request of a
matrix (an agent's body, unicode, escapes, white space, a key twice, and the fields the
upstream's rules change: a ceiling capped, a route's defaults added, tags taken out,
tools dropped, a stream's flags) the upstream gets exactly the bytes the encode sends
(the same request with the pieces turned off), the pieces are used where the caller's
text is orjson's and never where it is not, and the journal keeps the body sent."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http, json_layout
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.journal import background
from gateway.journal.record import Record, Spliced
from tests.gateway.core.test_jobs import CHAT_ANSWER as ANSWER
from tests.gateway.core.test_jobs import CHAT_STREAM as STREAM
from tests.gateway.entries import route, snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import agent_body  # noqa: E402  (bench/agent_body.py: a coding agent's request)


def agent(model: str = "agent", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(agent_body.openai_body(model=model))
    body.update(fields)
    return body


def compact(body: dict[str, Any]) -> bytes:  # as the OpenAI SDKs write it
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def unicode_body() -> dict[str, Any]:
    body = agent()
    body["messages"].append({"role": "user", "content": 'café 😀 \u2028 "q" \\ </x> \x1f'})
    return body


# name -> (the caller's bytes, whether the pieces are used)
CASES: dict[str, tuple[bytes, bool]] = {
    "agent": (compact(agent()), True),
    "agent, streamed": (compact(agent(stream=True, stream_options={"include_usage": True})), True),
    "agent, streamed without usage": (compact(agent(stream=True)), True),
    "unicode and escapes": (compact(unicode_body()), True),
    "ASCII escapes": (json.dumps(unicode_body(), separators=(",", ":")).encode(), False),
    "json's spaces": (json.dumps(agent()).encode(), False),
    "white space around": (b"\n " + compact(agent()) + b"\r\n", True),
    "a key twice": (compact(agent())[:-1] + b',"model":"agent"}', False),
    "ceiling capped": (compact(agent("capped", max_tokens=9000)), True),
    "route defaults added": (compact(agent("defaults")), True),
    "tags taken out": (compact(agent(metadata={"tags": ["a"], "run": "r1"})), True),
    "only tags": (compact(agent(metadata={"tags": ["a"]})), True),
    "tools dropped": (compact(agent("no-tools", tool_choice="auto")), True),
}


# the cases whose body sent ends as the caller's does (the rest members at its end)
ENDS_AS_SENT = {"agent", "agent, streamed", "unicode and escapes", "ceiling capped"}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    agent_route = route("agent", "gpt-up", max_attempts=1)
    capped = route("capped", "gpt-up", max_attempts=1)
    capped = replace(capped, deployments=(replace(capped.deployments[0], max_output_tokens=100),))
    defaults = replace(
        route("defaults", "gpt-up", max_attempts=1),
        default_params={"temperature": 0.25, "max_tokens": 5},
    )
    no_tools = route("no-tools", "gpt-up", max_attempts=1)
    no_tools = replace(
        no_tools, deployments=(replace(no_tools.deployments[0], supports_tools=False),)
    )
    registry.install(snapshot(agent_route, capped, defaults, no_tools))
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if orjson.loads(request.content).get("stream"):
            return httpx.Response(
                200, content=STREAM, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield records, seen
    http.use_transport(None)


async def send(raw: bytes) -> None:
    reply = await service.handle("chat", "openai", raw, {}, service.Caller(key=MASTER))
    if isinstance(reply, service.StreamReply):
        async for _chunk in reply.chunks:
            pass
    else:
        assert reply.status == 200, reply.body


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_upstream_gets_the_encodes_bytes_spliced_where_the_text_allows(
    case: str, upstream: tuple[list[Record], list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    records, seen = upstream
    raw, spliced = CASES[case]
    made: list[json_layout.Pieces | None] = []
    pieces = json_layout.Layout.pieces

    def spy(self: json_layout.Layout, body: dict[str, Any]) -> json_layout.Pieces | None:
        made.append(pieces(self, body))
        return made[-1]

    monkeypatch.setattr(json_layout.Layout, "pieces", spy)
    await send(raw)
    monkeypatch.setattr(json_layout.Layout, "pieces", lambda self, body: None)
    await send(raw)  # the encode, as before
    with_pieces, encoded = seen
    assert with_pieces == encoded  # byte for byte
    assert json.loads(with_pieces) == json.loads(encoded)
    assert (bool(made) and made[0] is not None) == spliced
    rec = records[0]
    if not spliced:
        assert type(rec.upstream_request) is bytes
        return
    # the journal keeps what was sent: the rest of the caller's body after its head
    # when the pieces end with it, else joined
    sent = rec.upstream_request
    assert isinstance(sent, json_layout.Pieces) and sent is made[0]
    background.admit(rec)
    if sent.tail >= 0:
        assert type(rec.upstream_request) is Spliced
        assert rec.upstream_request.made(rec) == with_pieces
    else:
        assert rec.upstream_request == with_pieces
    assert (sent.tail >= 0) == (case in ENDS_AS_SENT)


async def test_what_the_upstream_rules_change_reaches_it(
    upstream: tuple[list[Record], list[bytes]],
) -> None:
    """The control: the changes the matrix splices are really made (else comparing the
    two paths would prove nothing about them)."""
    _records, seen = upstream
    for case in ("ceiling capped", "route defaults added", "tags taken out", "tools dropped"):
        await send(CASES[case][0])
    capped, defaults, tags, no_tools = (orjson.loads(b) for b in seen)
    assert capped["max_tokens"] == 100 and capped["model"] == "gpt-up"
    assert defaults["temperature"] == 0.25 and defaults["max_tokens"] == 64
    assert tags["metadata"] == {"run": "r1"}
    assert "tools" not in no_tools and "tool_choice" not in no_tools
    assert no_tools["messages"] == agent()["messages"]


async def test_a_guardrails_rewrite_is_encoded_whole(
    upstream: tuple[list[Record], list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body a guardrail rewrote (its journaled request is the rewrite) is never sent
    from the caller's bytes, whatever its values are."""
    records, seen = upstream
    from gateway.core import jobs

    passthrough_body = jobs.ChatJob.passthrough_body

    def rewritten(self: jobs.ChatJob, *args: Any) -> dict[str, Any]:
        self.call.logged_request = b"{}"
        return passthrough_body(self, *args)

    monkeypatch.setattr(jobs.ChatJob, "passthrough_body", rewritten)
    await send(CASES["agent"][0])
    assert type(records[0].upstream_request) is bytes
    assert orjson.loads(seen[0])["model"] == "gpt-up"
