"""Multi-round-trip requests (``rounds``): a server's state sealed in the gateway's and
given back only to the key, server and tool it was minted for; the gateway's own
"connect your account" round; a declined connect; and the rounds driven for a client
that cannot retry, given up as a tool error past ``MAX_ROUNDS``."""

from __future__ import annotations

import dataclasses

import mcp_types as types
import pytest

from gateway.base.entries import MASTER
from gateway.features.mcp import rounds

KEY = dataclasses.replace(MASTER, id=4, name="agent", prefix="sy-agent")
OTHER = dataclasses.replace(KEY, id=5, prefix="sy-other")


def elicit(message: str) -> types.ElicitRequest:
    schema = {"type": "object", "properties": {}}
    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(message=message, requested_schema=schema)
    )


def round_(state: str | None = "server-state", *names: str) -> types.InputRequiredResult:
    return types.InputRequiredResult(
        input_requests={n: elicit(n) for n in names or ("why",)}, request_state=state
    )


def test_a_servers_state_goes_back_only_to_its_key_server_and_tool() -> None:
    relayed = rounds.relayed(round_("server-state"), KEY, "docs", "lookup")
    sealed = relayed.request_state
    assert sealed and "server-state" not in sealed
    assert relayed.input_requests == round_().input_requests  # as the server asked
    assert rounds.read(sealed, KEY, "docs", "lookup") == rounds.State("server-state", False)
    assert rounds.read(sealed, OTHER, "docs", "lookup") is None
    assert rounds.read(sealed, KEY, "mail", "lookup") is None
    assert rounds.read(sealed, KEY, "docs", "delete") is None


@pytest.mark.parametrize("token", ["", "not-a-fernet-token", "é", "x" * 70000])
def test_a_forged_or_garbled_state_is_nothing(token: str) -> None:
    assert rounds.read(token, KEY, "docs", "lookup") is None


def test_an_expired_state_is_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = rounds.seal(KEY, "docs", "lookup", "s", False)
    monkeypatch.setattr(rounds, "STATE_SECONDS", -1)
    assert rounds.read(sealed, KEY, "docs", "lookup") is None


def test_the_gateways_connect_round_and_a_no_to_it() -> None:
    asked = rounds.connect(
        "connect your account", "https://gw/mcp-connections/", KEY, "docs", "lookup"
    )
    request = asked.input_requests[rounds.CONNECT]
    assert isinstance(request, types.ElicitRequest)
    assert request.params.url == "https://gw/mcp-connections/"  # type: ignore[union-attr]
    assert rounds.read(asked.request_state or "", KEY, "docs", "lookup") == rounds.State(None, True)
    assert rounds.declined({rounds.CONNECT: types.ElicitResult(action="decline")})
    assert rounds.declined({rounds.CONNECT: types.ElicitResult(action="cancel")})
    assert not rounds.declined({rounds.CONNECT: types.ElicitResult(action="accept")})
    assert not rounds.declined(None) and not rounds.declined({})


async def test_the_rounds_are_driven_for_a_client_that_cannot_retry() -> None:
    asked: list[str] = []
    retries: list[tuple] = []

    async def ask(request: types.InputRequest) -> types.InputResponse:
        asked.append(request.params.message)  # type: ignore[union-attr]
        return types.ElicitResult(action="accept", content={})

    async def retry(responses, state):  # type: ignore[no-untyped-def]
        retries.append((sorted(responses or {}), state))
        if len(retries) == 1:
            return round_("second", "where")
        return types.CallToolResult(content=[types.TextContent(type="text", text="done")])

    result = await rounds.drive(round_("first", "why", "how"), ask, retry)
    assert result.content[0].text == "done"  # type: ignore[union-attr]
    assert asked == ["why", "how", "where"]
    assert retries == [(["how", "why"], "first"), (["where"], "second")]


async def test_a_server_that_never_stops_asking_is_a_tool_error() -> None:
    async def ask(request: types.InputRequest) -> types.InputResponse:
        return types.ElicitResult(action="accept", content={})

    calls = 0

    async def retry(responses, state):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return round_(f"s{calls}")

    result = await rounds.drive(round_(), ask, retry)
    assert result.is_error and f"more than {rounds.MAX_ROUNDS} times" in result.content[0].text  # type: ignore[union-attr]
    assert calls == rounds.MAX_ROUNDS
    with pytest.raises(rounds.TooManyRounds):
        await rounds.drive_rounds(round_(), ask, retry)
