"""Guardrails on agent-to-agent messages (``gateway.features.guardrails.messages``): the
``default_on`` guardrails and the key's apply; the message sent is checked by the
``pre_call`` and ``during_call`` ones, what comes back by the ``post_call`` ones; a call
none applies to gets no check; the verdicts land on the call's journal record."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from gateway.access import registry
from gateway.base.entries import Snapshot
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails import messages
from tests.gateway.features.guardrails.scripted import guardrail, key


def _install(*entries, default=()):  # type: ignore[no-untyped-def]
    registry.install(
        Snapshot(guardrails={e.name: e for e in entries}, default_guardrails=tuple(default))
    )


def test_no_guardrails_no_check(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    _install()
    assert messages.MessageGuardrails().begin(key(), "echo") is None
    _install(guardrail("mcp-only", ("pre_mcp_call",)), default=("mcp-only",))
    assert messages.MessageGuardrails().begin(key("mcp-only"), "echo") is None
    _install(guardrail("not-mine", ("pre_call",)))
    assert (
        messages.MessageGuardrails().begin(key(), "echo") is None
    )  # neither default nor the key's


def test_the_message_and_the_answer_checked_by_their_modes(
    snapshot_reset: None,
    scripted,  # type: ignore[no-untyped-def]
) -> None:
    pre = guardrail("pre", ("pre_call",), params={"mask": "secret"})
    post = guardrail("post", ("post_call",), params={"block": "bomb"}, default_on=True)
    _install(pre, post, default=("post",))
    record = SimpleNamespace(request_id="req-9", guardrails=None)
    check = messages.MessageGuardrails().begin(key("pre"), "echo", record=record)
    assert check is not None and check.inputs == [pre] and check.outputs == [post]
    assert asyncio.run(check.check_input(["my secret"])) == ["my [MASKED]"]
    name, texts, context = scripted[-1]
    assert (name, context.mode, context.input_type) == ("pre", "pre_call", "request")
    assert (context.route, context.request_id) == ("echo", "req-9")
    assert asyncio.run(check.check_output(["fine"])) == ["fine"]
    with pytest.raises(GuardrailBlocked, match="guardrail 'post' blocked the answer"):
        asyncio.run(check.check_output(["a bomb"]))
    verdicts = {(n["name"], n["verdict"]) for n in record.guardrails}
    assert verdicts == {("pre", "intervened"), ("post", "blocked")}


def test_empty_texts_are_not_checked(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    _install(guardrail("pre", ("during_call",)), default=("pre",))
    check = messages.MessageGuardrails().begin(key(), "echo")
    assert check is not None and check.outputs == []
    assert asyncio.run(check.check_input(["", ""])) == ["", ""]
    assert asyncio.run(check.check_output(["answer"])) == ["answer"]
    assert scripted == []
