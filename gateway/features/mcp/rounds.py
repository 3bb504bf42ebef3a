"""Multi-round-trip requests (2026-07-28): a ``tools/call``, ``prompts/get`` or
``resources/read`` answered with ``resultType: "input_required"`` (what the server needs: elicitation, sampling, roots)
and retried by the client with ``inputResponses`` and the ``requestState`` it was given.

The gateway relays them end to end and adds its own:

- **A server's rounds.** A 2026-07-28 server's ``InputRequiredResult`` goes to the
  client with its ``inputRequests`` as they are and its ``requestState`` sealed inside
  the gateway's own (``seal``): Fernet keyed from ``SECRET_KEY`` (``base.secrets.crypto``)
  over the key, the server, the tool and the server's state, for ``STATE_SECONDS``. The
  retry may reach any worker of any instance (nothing is held between rounds, as the
  protocol means it); ``read`` gives back the server's state only to the key, server
  and tool it was minted for, so one key cannot continue another's call nor point it
  at another tool. Each round is a governed call (permission, rpm, schema, guardrails
  on the arguments, one journal row whose finish reason is ``input_required``).
- **Prompts and resources.** ``prompts/get`` and ``resources/read`` go the same way
  (their state sealed to ``prompts/get <name>`` or ``resources/read <uri>`` in the
  tool's place, so a round of one cannot continue another); a 2025-11-25 client that
  cannot answer gets a JSON-RPC error naming what was wanted.
- **A 2025-11-25 client.** It cannot retry: the gateway drives the rounds itself
  (``drive``), asking the client each embedded request over the POST's back channel
  (``relay.Downstream.ask``) when it declared that capability, else the call ends as a
  tool error saying what input the server wanted.
- **"Connect your account".** A per-user OAuth server the person has not connected
  raises ``AuthorizationRequired``: a 2026-07-28 client gets an ``input_required`` URL
  elicitation naming the console's connections page (``connect``; no
  ``elicitationId``, which 2026-07-28 dropped), and its retry calls again (connected by
  then, or asked again). A 2025-11-25 client keeps the ``-32042`` error of its era."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import mcp_types as types

from gateway.base.entries import KeyEntry
from gateway.base.secrets import crypto

PURPOSE = "mcp-request-state"
FORMAT = 1
STATE_SECONDS = 3600  # how long a client may take to answer a round
CONNECT = "connect"  # the key of the gateway's own "connect your account" request
MAX_ROUNDS = 10  # rounds the gateway drives for a 2025-11-25 client before giving up


@dataclass(frozen=True)
class State:
    upstream: str | None  # the server's requestState, None when the round was the gateway's
    connect: bool  # the round was the gateway's "connect your account"


def _who(key: KeyEntry) -> list[Any]:
    return [key.id, key.prefix]


def seal(key: KeyEntry, server: str, tool: str, upstream: str | None, connect: bool) -> str:
    payload = {"f": FORMAT, "w": _who(key), "s": server, "t": tool, "u": upstream, "c": connect}
    return crypto.sealer(PURPOSE).encrypt(json.dumps(payload).encode()).decode()


def read(token: str, key: KeyEntry, server: str, tool: str) -> State | None:
    """The round ``token`` continues, when this gateway minted it for this key, server
    and tool within ``STATE_SECONDS``; else None."""
    from cryptography.fernet import InvalidToken

    if not token or len(token) > 65536:
        return None
    try:
        payload = json.loads(
            crypto.sealer(PURPOSE).decrypt(token.encode("ascii"), ttl=STATE_SECONDS)
        )
    except (InvalidToken, UnicodeEncodeError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("f") != FORMAT:
        return None
    if payload.get("w") != _who(key) or payload.get("s") != server or payload.get("t") != tool:
        return None
    upstream = payload.get("u")
    return State(upstream if isinstance(upstream, str) else None, bool(payload.get("c")))


def relayed(
    result: types.InputRequiredResult, key: KeyEntry, server: str, tool: str
) -> types.InputRequiredResult:
    """A server's round as the client gets it: its state sealed in the gateway's."""
    return result.model_copy(
        update={"request_state": seal(key, server, tool, result.request_state, False)}
    )


def connect(
    message: str, url: str, key: KeyEntry, server: str, tool: str
) -> types.InputRequiredResult:
    """The gateway's own round: open ``url`` (the console's connections page)."""
    ask = types.ElicitRequest(params=types.ElicitRequestURLParams(message=message, url=url))
    return types.InputRequiredResult(
        input_requests={CONNECT: ask}, request_state=seal(key, server, tool, None, True)
    )


def declined(responses: types.InputResponses | None) -> bool:
    """Whether the person said no to the gateway's "connect your account"."""
    answer = (responses or {}).get(CONNECT)
    return isinstance(answer, types.ElicitResult) and answer.action != "accept"


R = TypeVar("R", bound=types.Result)


class TooManyRounds(Exception):
    """A server asked for input more than ``MAX_ROUNDS`` times in one request."""


async def drive_rounds(
    first: types.InputRequiredResult,
    ask: Callable[[types.InputRequest], Awaitable[types.InputResponse]],
    retry: Callable[
        [types.InputResponses | None, str | None], Awaitable[R | types.InputRequiredResult]
    ],
) -> R:
    """The rounds of a server's request (a tool call, a prompt, a resource read) for a
    client that cannot retry (2025-11-25): ``ask(request)`` puts each embedded request
    to the client (over its back channel) and returns its answer; ``retry(responses,
    state)`` asks the server again. More than ``MAX_ROUNDS``: ``TooManyRounds``."""
    current: R | types.InputRequiredResult = first
    for _ in range(MAX_ROUNDS):
        if not isinstance(current, types.InputRequiredResult):
            return current
        responses: types.InputResponses = {}
        for name, request in (current.input_requests or {}).items():
            responses[name] = await ask(request)
        current = await retry(responses or None, current.request_state)
    if not isinstance(current, types.InputRequiredResult):
        return current
    raise TooManyRounds(f"the server asked for input more than {MAX_ROUNDS} times")


async def drive(
    first: types.InputRequiredResult,
    ask: Callable[[types.InputRequest], Awaitable[types.InputResponse]],
    retry: Callable[
        [types.InputResponses | None, str | None],
        Awaitable[types.CallToolResult | types.InputRequiredResult],
    ],
) -> types.CallToolResult:
    """``drive_rounds`` of a tool call: more than ``MAX_ROUNDS`` is a tool error."""
    try:
        return await drive_rounds(first, ask, retry)
    except TooManyRounds:
        return types.CallToolResult(
            content=[
                types.TextContent(
                    type="text", text=f"the tool asked for input more than {MAX_ROUNDS} times"
                )
            ],
            is_error=True,
        )
