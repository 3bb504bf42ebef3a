"""Every route a request reaches is decided by the route rules (``gateway.access.rules.
routes``): the requested route by ``route.call`` at admission (the key's route list and
the route's teams), every route that may answer it (fallbacks, context-window fallbacks,
a batch line's route) by the same rule, and shadows by ``route.mirror`` (the route's
teams only: a mirror answers and bills no one). A key of team A never reaches team
B's route through a route of its own, whatever an editor set as its fallbacks or
shadows. Through the real request path (``service.handle``) with a mock upstream."""

from __future__ import annotations

import dataclasses

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base import background, http
from gateway.base.entries import MASTER, RouteEntry, TeamEntry
from gateway.base.errors import PermissionDenied
from gateway.core import service
from gateway.features.batches import operations as batches_api
from gateway.features.batches import validate
from tests.gateway.entries import route, snapshot
from tests.gateway.limits.test_limits import key

TEAM_A = TeamEntry(id=9101, name="a", rpm_limit=None, tpm_limit=None, budget_usd=None,
                   budget_period="total")  # fmt: skip
TEAM_B = TeamEntry(id=9102, name="b", rpm_limit=None, tpm_limit=None, budget_usd=None,
                   budget_period="total")  # fmt: skip


def limited(entry: RouteEntry, team: TeamEntry, **changes) -> RouteEntry:
    return dataclasses.replace(entry, teams=frozenset({team.id}), **changes)


def answer(model: str) -> dict:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"from {model}"},
                "finish_reason": "stop",
            }
        ],  # fmt: skip
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


@pytest.fixture
def upstream(snapshot_reset, monkeypatch, settings):
    """The upstream every deployment posts to: models named ``broken-*`` fail with a 500;
    the models asked for, in order."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(journal, "record", lambda record: None)
    seen: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        model = orjson.loads(request.content)["model"]
        seen.append(model)
        if model.startswith("broken"):
            return httpx.Response(500, json={"error": {"message": "down"}})
        return httpx.Response(200, json=answer(model))

    http.use_transport(httpx.MockTransport(reply))
    yield seen
    http.use_transport(None)


async def ask(k, model: str = "mine", text: str = "hi") -> tuple[int, dict]:
    raw = orjson.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
    reply = await service.handle("chat", "openai", raw, {}, service.Caller(key=k))
    await background.done()
    return reply.status, orjson.loads(reply.body)


# --- fallbacks ------------------------------------------------------------------------------


async def test_a_fallback_to_another_teams_route_is_not_taken(upstream):
    mine = limited(route("mine", "broken-mine", max_attempts=1, fallbacks=["theirs"]), TEAM_A)
    theirs = limited(route("theirs", "their-model", max_attempts=1), TEAM_B)
    registry.install(snapshot(mine, theirs))
    status, body = await ask(key(team=TEAM_A))
    assert upstream == ["broken-mine"]  # team B's route never called
    assert status == 502 and body["error"]["type"] == "api_error"
    # team B's own key still falls back to it... from a route of its own
    own = limited(route("own", "broken-own", max_attempts=1, fallbacks=["theirs"]), TEAM_B)
    registry.install(snapshot(mine, theirs, own))
    status, body = await ask(key(team=TEAM_B), "own")
    assert status == 200 and body["choices"][0]["message"]["content"] == "from their-model"


async def test_fallbacks_skip_only_what_the_key_may_not_call(upstream):
    """Team B's route is skipped; the open route after it is taken, by a key whose own
    list names it; a key whose list names only the requested route gets no fallback
    (a fallback answers and bills the key, as the requested route does)."""
    mine = limited(
        route("mine", "broken-mine", max_attempts=1, fallbacks=["theirs", "open"]), TEAM_A
    )
    theirs = limited(route("theirs", "their-model", max_attempts=1), TEAM_B)
    registry.install(snapshot(mine, theirs, route("open", "open-model", max_attempts=1)))
    status, body = await ask(key(team=TEAM_A, routes=frozenset({"mine", "theirs", "open"})))
    assert status == 200 and body["choices"][0]["message"]["content"] == "from open-model"
    assert upstream == ["broken-mine", "open-model"]
    status, _ = await ask(key(team=TEAM_A, routes=frozenset({"mine"})))
    assert status == 502 and upstream[2:] == ["broken-mine"]


async def test_the_requested_route_of_another_team_is_a_403(upstream):
    registry.install(snapshot(limited(route("theirs", "their-model"), TEAM_B)))
    status, body = await ask(key(team=TEAM_A), "theirs")
    assert status == 403 and body["error"]["type"] == "permission_error"
    assert "limited to other teams" in body["error"]["message"] and upstream == []


# --- context-window fallbacks ---------------------------------------------------------------


def windowed(entry: RouteEntry, window: int) -> RouteEntry:
    return dataclasses.replace(
        entry,
        deployments=tuple(dataclasses.replace(d, context_window=window) for d in entry.deployments),
    )


async def test_a_context_window_fallback_to_another_teams_route_is_not_taken(upstream):
    mine = limited(windowed(route("mine", "small-model", cw="theirs"), 50), TEAM_A)
    theirs = limited(windowed(route("theirs", "their-big-model"), 1_000_000), TEAM_B)
    registry.install(snapshot(mine, theirs))
    long_prompt = "word " * 400  # about 400 tokens: too long for 50
    status, body = await ask(key(team=TEAM_A), text=long_prompt)
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    assert upstream == []
    # a larger route of the key's own team is taken
    ours = limited(windowed(route("ours", "our-big-model"), 1_000_000), TEAM_A)
    mine = dataclasses.replace(mine, context_window_fallbacks=("theirs", "ours"))
    registry.install(snapshot(mine, theirs, ours))
    status, body = await ask(key(team=TEAM_A), text=long_prompt)
    assert status == 200 and upstream == ["our-big-model"]


# --- shadows --------------------------------------------------------------------------------


async def test_a_shadow_to_another_teams_route_is_not_sent(upstream):
    mine = limited(
        route("mine", "my-model", max_attempts=1),
        TEAM_A,
        shadow_routes=("theirs", "open"),
        shadow_percent=100.0,
    )
    theirs = limited(route("theirs", "their-model", max_attempts=1), TEAM_B)
    registry.install(snapshot(mine, theirs, route("open", "open-model", max_attempts=1)))
    status, _ = await ask(key(team=TEAM_A, routes=frozenset({"mine"})))
    assert status == 200
    assert upstream == ["my-model", "open-model"]  # the open shadow still runs


# --- batches: each line's route ---------------------------------------------------------


def test_a_batch_line_naming_another_teams_route_is_refused(snapshot_reset):
    registry.install(snapshot(limited(route("theirs", "m"), TEAM_B), route("open", "m")))
    member = key(team=TEAM_A)
    problem = validate.model_problem(member, "theirs", 3)
    assert problem is not None and problem["code"] == "model_not_found"
    assert validate.model_problem(member, "open", 3) is None
    with pytest.raises(PermissionDenied, match="limited to other teams"):
        batches_api.check_model(member, "theirs", "requests[0]")
    batches_api.check_model(key(team=TEAM_B), "theirs", "requests[0]")


def test_the_rules_read_the_key_list_on_call_and_the_teams_on_both():
    theirs = limited(route("theirs", "m"), TEAM_B)
    open_route = route("open", "m")
    listed = key(team=TEAM_A, routes=frozenset({"mine", "theirs"}))
    assert not decide(listed, "route.call", open_route)  # not in its list
    assert decide(listed, "route.mirror", open_route)  # a shadow answers and bills no one
    assert not decide(listed, "route.call", theirs)  # in its list, but another team's
    assert not decide(listed, "route.mirror", theirs)
    assert not decide(key(), "route.mirror", theirs)  # a key of no team
    assert decide(MASTER, "route.mirror", theirs)
    assert decide(key(team=TEAM_B), "route.call", theirs)
