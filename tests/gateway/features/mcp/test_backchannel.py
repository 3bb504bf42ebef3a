"""A session's POST with a back channel (``backchannel``): which POSTs are served here
(the handshake era), which bodies are answers to requests the gateway sent, and where
an answer goes: to the transport of this process waiting for it, else through the
mailbox to whichever process waits."""

from __future__ import annotations

import asyncio
import json
import time

from mcp_types import DEFAULT_NEGOTIATED_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from gateway.features.mcp import backchannel, mailbox, sessions


def session(version: str = "2025-06-18") -> sessions.Session:
    return sessions.Session("sid", None, "f", version, {"sampling": {}}, time.time(), "t")


class Transport:
    """Stands for the SDK transport a waiting request holds: records what it is handed."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.scopes: list[dict] = []

    async def handle_request(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        self.scopes.append(scope)
        self.bodies.append((await receive())["body"])


def test_a_handshake_era_post_is_served_here_a_modern_one_is_not() -> None:
    old = "2025-06-18"
    assert old in HANDSHAKE_PROTOCOL_VERSIONS
    assert backchannel.serves(session(old), {"headers": []})
    assert backchannel.serves(None, {"headers": [(b"mcp-protocol-version", old.encode())]})
    assert not backchannel.serves(
        session(old), {"headers": [(b"mcp-protocol-version", b"2026-07-28")]}
    )
    modern = DEFAULT_NEGOTIATED_VERSION in HANDSHAKE_PROTOCOL_VERSIONS
    assert backchannel.serves(None, {}) is modern  # no header, no session: the default's era


def test_only_answers_to_the_gateways_own_ids_are_answers() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "sy-a", "result": {}},
        {"jsonrpc": "2.0", "id": "sy-b", "error": {"code": -1, "message": "no"}},
    ]
    assert backchannel.answer_ids(json.dumps(batch).encode()) == ["sy-a", "sy-b"]
    assert backchannel.answer_ids(b'{"jsonrpc":"2.0","id":"sy-x"}') is None  # neither
    assert backchannel.answer_ids(b'{"jsonrpc":"2.0","method":"notify","note":"sy-"}') is None
    assert backchannel.answer_ids(b"sy- not json") is None
    assert backchannel.answer_ids(b"[]") is None
    mixed = [batch[0], {"jsonrpc": "2.0", "id": 4, "result": {}}]
    assert backchannel.answer_ids(json.dumps(mixed).encode()) is None


async def test_a_single_answer_goes_to_the_transport_waiting_here() -> None:
    waiting = Transport()
    backchannel._waiting[("sid", "sy-here")] = waiting
    body = b'{"jsonrpc":"2.0","id":"sy-here","result":{}}'

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    try:
        await backchannel.route_answer(
            session(), ["sy-here"], body, {"path": "/mcp"}, receive, send
        )
    finally:
        backchannel._waiting.clear()
    assert waiting.bodies == [body] and waiting.scopes == [{"path": "/mcp"}]
    assert sent == []  # the transport answers the POST itself


async def test_a_batch_splits_between_this_process_and_the_mailbox(counter_service) -> None:
    waiting = Transport()
    backchannel._waiting[("sid", "sy-here")] = waiting
    here = {"jsonrpc": "2.0", "id": "sy-here", "result": {"n": 1}}
    away = {"jsonrpc": "2.0", "id": "sy-away", "result": {"n": 2}}
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    body = json.dumps([here, away]).encode()
    try:
        await backchannel.route_answer(session(), ["sy-here", "sy-away"], body, {}, None, send)
    finally:
        backchannel._waiting.clear()
    assert [json.loads(b) for b in waiting.bodies] == [here]
    handed = dict(waiting.scopes[0]["headers"])
    assert handed[b"mcp-protocol-version"] == b"2025-06-18"  # as the session's own POST
    assert sent[0]["status"] == 202
    assert await mailbox.take("sid:sy-away") == away


async def test_an_answer_another_process_received_reaches_the_waiting_transport(
    counter_service,
) -> None:
    waiting = Transport()
    answer = {"jsonrpc": "2.0", "id": "sy-wait", "result": {"ok": True}}
    async with backchannel._expecting(session(), "sy-wait", waiting):  # type: ignore[arg-type]
        assert backchannel._waiting[("sid", "sy-wait")] is waiting
        await mailbox.put("sid:sy-wait", answer)  # what the other worker does
        for _ in range(100):
            if waiting.bodies:
                break
            await asyncio.sleep(0.02)
    assert ("sid", "sy-wait") not in backchannel._waiting
    assert [json.loads(b) for b in waiting.bodies] == [answer]


async def test_an_answer_no_transport_here_waits_for_is_put(counter_service) -> None:
    session = sessions.Session("sid", None, "f", "2025-06-18", {"sampling": {}}, time.time(), "t")
    body = json.dumps({"jsonrpc": "2.0", "id": "sy-feed", "result": {"ok": 1}}).encode()
    assert backchannel.answer_ids(body) == ["sy-feed"]
    assert backchannel.answer_ids(b'{"jsonrpc":"2.0","id":3,"result":{}}') is None  # not ours
    assert backchannel.answer_ids(b'{"jsonrpc":"2.0","id":"sy-1","method":"x"}') is None
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await backchannel.route_answer(session, ["sy-feed"], body, {}, None, send)
    assert sent[0]["status"] == 202
    taken = await mailbox.take("sid:sy-feed")  # what the waiting process takes
    assert taken == {"jsonrpc": "2.0", "id": "sy-feed", "result": {"ok": 1}}
