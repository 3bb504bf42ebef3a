"""What the kinds that call out share (``gateway.features.guardrails.kinds.remote``): a
guardrail's own call marked internal (no guardrail applies to it) in its task and the
tasks it starts only; the params they check in common, each refusal naming its field."""

from __future__ import annotations

import asyncio

import pytest

from gateway.features.guardrails.kinds import ConfigError, remote


def test_an_internal_call_is_marked_for_its_task_only() -> None:
    assert not remote.in_internal_call()

    async def inside() -> tuple[bool, bool]:
        with remote.internal_call():
            child = asyncio.create_task(asyncio.sleep(0, remote.in_internal_call()))
            return remote.in_internal_call(), await child

    assert asyncio.run(inside()) == (True, True)
    assert not remote.in_internal_call()
    with pytest.raises(RuntimeError), remote.internal_call():
        raise RuntimeError("the check failed")
    assert not remote.in_internal_call()  # reset whatever happened inside


def test_a_route_is_named() -> None:
    assert remote.route_name({"route": " judge "}) == "judge"
    for params in ({}, {"route": ""}, {"route": 3}):
        with pytest.raises(ConfigError) as refused:
            remote.route_name(params)
        assert refused.value.field == "params.route"


def test_a_literal_or_an_environment_reference() -> None:
    assert remote.reference_or_text("sk-1", "params.api_key") == "sk-1"
    assert (
        remote.reference_or_text("os.environ/GUARD_KEY", "params.api_key") == "os.environ/GUARD_KEY"
    )
    for value in ("", None, "os.environ/not a name"):
        with pytest.raises(ConfigError) as refused:
            remote.reference_or_text(value, "params.api_key")
        assert refused.value.field == "params.api_key"


def test_a_regular_expression_that_matches_something() -> None:
    assert remote.compiled(r"unsafe\s+(\w+)", "params.pattern").search("unsafe S1")
    for value, says in ((None, "is required"), ("(", "not a valid"), ("x*", "the empty text")):
        with pytest.raises(ConfigError, match=says):
            remote.compiled(value, "params.pattern")
