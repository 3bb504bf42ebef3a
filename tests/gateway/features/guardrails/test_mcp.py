"""pre_mcp_call guardrails on a tool call (``gateway.features.guardrails.mcp``): what
applies (the key's and the defaults, the route's when no caller is known, the chat
request's own run for a hosted call), the arguments checked as one JSON text (a rewrite
that is no JSON object refused), the tool's texts checked after, the verdicts noted on
the call's record. ``/mcp`` with the SDK is in ``tests/gateway/features/mcp/test_guardrails.py``."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import pytest

from gateway.access import registry
from gateway.base import endpoints
from gateway.base.entries import Snapshot
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails import mcp
from gateway.features.guardrails.plane import Run
from tests.gateway.entries import route
from tests.gateway.features.guardrails.scripted import guardrail, key


def _install(*entries, default=()):  # type: ignore[no-untyped-def]
    registry.install(
        Snapshot(guardrails={e.name: e for e in entries}, default_guardrails=tuple(default))
    )


def test_what_applies(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    tools = guardrail("tools", ("pre_mcp_call",))
    chat = guardrail("chat", ("pre_call",))
    on_route = guardrail("routed", ("pre_mcp_call",))
    _install(tools, chat, on_route)
    guards = mcp.McpGuardrails()
    assert guards.begin(key(), "web", "fetch") is None  # nothing is the key's
    check = guards.begin(key("tools", "chat"), "web", "fetch")
    assert check is not None and check.entries == [tools]  # its pre_mcp_call ones only
    assert check.context.tool == "web__fetch" and check.context.mode == "pre_mcp_call"
    served = dataclasses.replace(route("r", "m"), guardrails=("routed",))
    anonymous = guards.begin(None, "web", "fetch", route=served)
    assert anonymous is not None and anonymous.entries == [on_route]
    assert anonymous.context.route == "r"
    _install()
    assert guards.begin(key("tools"), "web", "fetch") is None


def test_the_arguments_checked_as_json(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    _install(guardrail("g", ("pre_mcp_call",), params={"mask": "secret"}), default=("g",))
    record = SimpleNamespace(guardrails=None)
    check = mcp.McpGuardrails().begin(key(), "web", "fetch", record=record)
    assert check is not None
    same = {"url": "https://example.com"}
    assert asyncio.run(check.check_call(same)) is same
    assert asyncio.run(check.check_call({"q": "my secret"})) == {"q": "my [MASKED]"}
    assert scripted[-1][1] == ['{"q":"my secret"}']
    assert record.guardrails[0]["verdict"] == "intervened"
    assert asyncio.run(check.check_result(["", ""])) == ["", ""]
    assert asyncio.run(check.check_result(["the secret"])) == ["the [MASKED]"]
    assert scripted[-1][2].input_type == "response"


def test_a_rewrite_that_is_no_json_object_refuses_the_call(
    snapshot_reset: None,
    scripted,  # type: ignore[no-untyped-def]
) -> None:
    _install(guardrail("g", ("pre_mcp_call",), params={"mask": '"q"'}), default=("g",))
    check = mcp.McpGuardrails().begin(key(), "web", "fetch")
    assert check is not None
    with pytest.raises(GuardrailBlocked, match="into invalid JSON; the call was refused"):
        asyncio.run(check.check_call({"q": 1}))
    # a rewrite that parses, but as no object: refused too
    _install(
        guardrail("g", ("pre_mcp_call",), params={"mask": '{"q":1}', "with": "[1]"}), default=("g",)
    )
    check = mcp.McpGuardrails().begin(key(), "web", "fetch")
    assert check is not None
    with pytest.raises(GuardrailBlocked, match="into invalid JSON"):
        asyncio.run(check.check_call({"q": 1}))


def test_a_hosted_call_takes_its_requests_run(scripted) -> None:  # type: ignore[no-untyped-def]
    entry = guardrail("g", ("pre_mcp_call",), params={"block": "rm -rf"})
    caller = SimpleNamespace(request_id="req-1")
    job = SimpleNamespace(call=SimpleNamespace(caller=caller), key=key(), body={"model": "r"})
    chat = endpoints.declared("chat")
    assert chat is not None
    run = Run(job, route("r", "m"), [entry], {}, chat)  # the chat request's, as the plane made it
    call = SimpleNamespace(guard=run)
    check = mcp.McpGuardrails().begin(key(), "shell", "run", call=call)
    assert check is not None and check.record is None and check.notes is run.notes
    assert (check.context.request_id, check.context.tool) == ("req-1", "shell__run")
    with pytest.raises(GuardrailBlocked):
        asyncio.run(check.check_call({"cmd": "rm -rf /"}))
    assert run.notes.as_list()[0]["verdict"] == "blocked"
    assert mcp.McpGuardrails().begin(key(), "shell", "run", call=SimpleNamespace(
        guard=Run(job, route("r", "m"), [], {}, chat))) is None  # fmt: skip
