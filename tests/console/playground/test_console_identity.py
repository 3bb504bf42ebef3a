"""The playground runs as the signed-in user, not the master key: their console key for the
team they pick, so the team's budget and route limits hold, a refusal is the column's
error with one journal row naming that key, a deactivated user runs nothing, a member in
teams cannot slip out of them ("no team"), and console keys cannot be edited into
another kind of key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from console.playground.consumer import PlaygroundConsumer
from gateway import journal
from gateway.access import console_keys, keys, registry, roles
from gateway.base import lifecycle
from gateway.limits import limits
from gateway.models import ApiKey, Deployment, Provider, Route, Team

from ..playground_support import JournalRecorder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> JournalRecorder:
    rec = JournalRecorder()
    monkeypatch.setattr(journal, "record", rec)

    async def started() -> None:  # the tests build the registry themselves
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    limits.reset()
    yield rec
    limits.reset()


def echo_route(name: str, *, teams: list[Team] = (), price: str = "1") -> Route:
    """An echo route; ``price``: USD per 1M input tokens (output: twice that)."""
    provider, _ = Provider.objects.get_or_create(name="echo", defaults={"kind": "echo"})
    route = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(
        route=route,
        provider=provider,
        model=f"{name}-model",
        input_price=Decimal(price),
        output_price=Decimal(price) * 2,
    )
    if teams:
        route.teams.set(teams)
    return route


def member(name: str, *teams: Team, role: str = "member") -> User:
    user = User.objects.create_user(name, password="pw-123456789")
    roles.set_role(user, role)
    for team in teams:
        roles.assign_membership(user, team, role if role != "admin" else "member")
    return user


async def connect(user: User) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(PlaygroundConsumer.as_asgi(), "/ws/playground/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def spec(route: str, prompt: str = "hello there friend") -> dict:
    return {
        "system": "",
        "messages": [{"role": "user", "content": prompt}],
        "params": {"max_tokens": 10},
        "columns": [{"route": route, "dialect": d, "params": {}} for d in ("openai", "anthropic")],
    }


async def run_once(ws: WebsocketCommunicator, route: str, **extra) -> list[dict]:
    await ws.send_json_to({"action": "run", "spec": spec(route), **extra})
    messages = []
    while True:
        message = await ws.receive_json_from(timeout=10)
        messages.append(message)
        if message["type"] in ("turn_done", "error"):
            return messages


def done_columns(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "column_done"]


def console_key_of(user: User, team: Team | None) -> ApiKey:
    return ApiKey.objects.get(user=user, team=team, scopes=console_keys.CONSOLE_SCOPE)


async def test_a_member_cannot_spend_past_the_team_budget(recorder: JournalRecorder) -> None:
    def world() -> User:
        team = Team.objects.create(
            name="thrifty", budget_usd=Decimal("0.01"), budget_period="total"
        )
        echo_route("pricey", price="100")  # each answer here costs about $0.002
        registry.rebuild()
        return member("mia", team)

    mia = await sync_to_async(world)()
    ws = await connect(mia)
    columns = []
    for _ in range(8):  # two columns each
        columns += done_columns(await run_once(ws, "pricey"))
    await ws.disconnect()

    answered = [r for r in recorder.records if r.status == 200]
    spent = sum((r.cost_usd for r in answered), Decimal(0))
    # Admitted while the team's spend is below its budget: at most the last answer
    # admitted ends past it (the master key spent ~$0.022 here, 16 answers).
    assert 0 < spent < Decimal("0.01") + max(r.cost_usd for r in answered)
    assert len(columns) == 16
    refused = [c for c in columns if c["state"] == "error"]
    assert all("budget" in c["error"] for c in refused)
    assert [c["state"] for c in columns[-4:]] == ["error"] * 4  # spent: nothing runs
    # one journal row per column, refusals included, each naming mia's console key
    key = await sync_to_async(console_key_of)(mia, await Team.objects.aget(name="thrifty"))
    assert len(recorder.records) == 16
    assert {(r.key_id, r.key_name) for r in recorder.records} == {(key.pk, "console:mia (thrifty)")}
    assert sum(1 for r in recorder.records if r.status == 429) == len(refused)


async def test_a_member_cannot_run_a_route_of_another_team(recorder: JournalRecorder) -> None:
    """Mia is in both teams but runs under "alpha": the route limited to "beta" is refused
    (her console key is alpha's), journaled once under that key; under "beta" it runs."""

    def world() -> tuple[User, Team, Team]:
        alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
        echo_route("beta-only", teams=[beta])
        registry.rebuild()
        return member("mia", alpha, beta), alpha, beta

    mia, alpha, beta = await sync_to_async(world)()
    ws = await connect(mia)
    refused = done_columns(await run_once(ws, "beta-only", team=str(alpha.pk)))
    allowed = done_columns(await run_once(ws, "beta-only", team=str(beta.pk)))
    await ws.disconnect()

    assert refused[0]["state"] == "error" and "other teams" in refused[0]["error"]
    assert allowed[0]["state"] == "done" and allowed[0]["text"] == "Echo: hello there friend"
    alpha_key = await sync_to_async(console_key_of)(mia, alpha)
    beta_key = await sync_to_async(console_key_of)(mia, beta)
    assert [(r.key_id, r.status) for r in recorder.records] == [
        (alpha_key.pk, 403),
        (alpha_key.pk, 403),
        (beta_key.pk, 200),
        (beta_key.pk, 200),
    ]


async def test_the_default_team_and_no_escape_from_it(recorder: JournalRecorder) -> None:
    """Without a team named, a member runs under their first team; "no team" (a key
    outside every team's limits) is refused to a member who has teams."""

    def world() -> User:
        team = Team.objects.create(name="alpha")
        echo_route("open")
        registry.rebuild()
        return member("mia", team)

    mia = await sync_to_async(world)()
    ws = await connect(mia)
    ran = done_columns(await run_once(ws, "open"))
    escape = await run_once(ws, "open", team=console_keys.NO_TEAM)
    await ws.disconnect()

    assert ran[0]["state"] == "done"
    assert escape[-1] == {"type": "error", "message": "choose one of your teams to run under"}
    assert [r.key_name for r in recorder.records] == ["console:mia (alpha)"] * 2
    key = await sync_to_async(console_key_of)(mia, await Team.objects.aget(name="alpha"))
    assert key.prefix == "console" and key.mcp_allowed == []  # members attach no MCP servers


async def test_a_deactivated_user_runs_nothing(recorder: JournalRecorder) -> None:
    def world() -> User:
        echo_route("open")
        registry.rebuild()
        return member("mia", role="admin")

    mia = await sync_to_async(world)()
    ws = await connect(mia)
    assert done_columns(await run_once(ws, "open"))[0]["state"] == "done"
    await User.objects.filter(pk=mia.pk).aupdate(is_active=False)  # while the socket is open
    after = await run_once(ws, "open")
    await ws.disconnect()

    assert after[-1]["type"] == "error" and "no longer use the console" in after[-1]["message"]
    assert len(recorder.records) == 2  # the run before only
    key = await sync_to_async(console_key_of)(mia, None)  # an admin in no team: personal
    assert recorder.records[0].key_id == key.pk and key.mcp_allowed == ["*"]


async def test_a_revoked_console_key_stays_revoked(recorder: JournalRecorder) -> None:
    def world() -> User:
        echo_route("open")
        registry.rebuild()
        return member("mia", role="admin")

    mia = await sync_to_async(world)()
    ws = await connect(mia)
    await run_once(ws, "open")
    key = await sync_to_async(console_key_of)(mia, None)
    await sync_to_async(keys.revoke_key)(key)
    after = await run_once(ws, "open")
    await ws.disconnect()

    assert after[-1]["type"] == "error" and "revoked" in after[-1]["message"]
    assert len(recorder.records) == 2
    assert await ApiKey.objects.filter(user=mia).acount() == 1  # no fresh key minted


def test_console_keys_cannot_be_edited(recorder: JournalRecorder, settings) -> None:
    team = Team.objects.create(name="alpha", budget_usd=Decimal("0.01"))
    mia = member("mia", team)
    console_keys.key_for(mia.pk, console_keys.DEFAULT, "playground.use")
    key = console_key_of(mia, team)
    with pytest.raises(ValidationError):
        keys.update_key(key, team=None, budget_usd=None, mcp_allowed=["*"])
    client = Client()
    client.force_login(mia)
    response = client.patch(
        f"/api/keys/{key.pk}",
        {"team": None, "scopes": "", "mcp_allowed": ["*"]},
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    key.refresh_from_db()
    assert key.team_id == team.pk and key.scopes == "console" and key.mcp_allowed == []
    # nor can a key be made a console key through the API
    created = client.post(
        "/api/keys/", {"name": "sneaky", "scopes": "console"}, content_type="application/json"
    )
    assert created.status_code == 422


def test_the_page_offers_the_teams_to_run_under(recorder: JournalRecorder) -> None:
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    Team.objects.create(name="gamma")
    client = Client()
    client.force_login(member("mia", beta, alpha))
    page = client.get("/playground/").content.decode()
    assert '<select name="team">' in page
    options = page.split('<select name="team">', 1)[1].split("</select>", 1)[0]
    assert options.index(">alpha<") < options.index(">beta<")  # the first is the default
    assert "gamma" not in options and "no team" not in options
