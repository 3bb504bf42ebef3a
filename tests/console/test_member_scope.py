"""A member never sees another user's requests or their bodies: not in the log list or
detail, not in the live tail, not through /api/logs, not replayed in the playground; a
viewer cannot open the tail's sibling, the playground socket. And the migration that
brought roles makes every existing staff user an owner."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from console.playground.consumer import PlaygroundConsumer
from console.tail import LogTailConsumer
from gateway.access import roles
from gateway.models import ApiKey, Profile, RequestBody, RequestLog, Team
from tests.migrate import at, latest

MINE, THEIRS = "secret-of-mine-7Q", "secret-of-theirs-9Z"


def setup_world() -> dict:
    team = Team.objects.create(name="alpha")
    users = {}
    for name, role in (("ann", "member"), ("bob", "member"), ("vic", "viewer")):
        user = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(user, role)
        roles.assign_membership(user, team, role)
        users[name] = user
    keys = {
        name: ApiKey.objects.create(
            name=f"{name}-key", prefix=f"sy-{name}", key_hash=name * 32, team=team, user=users[name]
        )
        for name in ("ann", "bob")
    }
    for name, secret in (("ann", MINE), ("bob", THEIRS)):
        log = RequestLog.objects.create(
            request_id=f"req-{name}",
            route="chat",
            dialect="openai",
            endpoint="chat",
            status=200,
            key_id=keys[name].pk,
            key_name=keys[name].name,
        )
        RequestBody.objects.create(log=log, inbound_request=f'{{"content": "{secret}"}}')
    # Ann's playground run (journaled under the console key of her name).
    RequestLog.objects.create(
        request_id="req-ann-playground",
        route="chat",
        dialect="openai",
        endpoint="chat",
        status=200,
        key_name="console:ann",
        from_playground=True,
    )
    return {"team": team, "users": users, "keys": keys}


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_member_sees_only_their_own_requests_in_the_console() -> None:
    world = setup_world()
    ann = signed_in(world["users"]["ann"])
    listed = ann.get("/logs/?window=all").content.decode()
    assert "req-ann" in listed and "req-ann-playground" in listed and "req-bob" not in listed
    mine = ann.get("/logs/req-ann/")
    assert mine.status_code == 200 and MINE in mine.content.decode()
    theirs = ann.get("/logs/req-bob/")
    assert theirs.status_code == 404 and THEIRS not in theirs.content.decode()
    # Not replayed into the playground either.
    assert ann.get("/playground/?replay=req-bob").status_code == 404
    assert THEIRS not in ann.get("/logs/?window=all&q=secret").content.decode()
    # The viewer of the team sees the team's requests, and changes nothing.
    vic = signed_in(world["users"]["vic"])
    team_logs = vic.get("/logs/?window=all").content.decode()
    assert "req-ann" in team_logs and "req-bob" in team_logs
    assert vic.post(f"/keys/{world['keys']['ann'].pk}/revoke/").status_code == 403
    assert ApiKey.objects.get(pk=world["keys"]["ann"].pk).revoked_at is None


@pytest.mark.django_db
def test_member_sees_only_their_own_requests_through_the_api() -> None:
    world = setup_world()
    ann = signed_in(world["users"]["ann"])
    ids = {row["request_id"] for row in ann.get("/api/logs/").json()["items"]}
    assert ids == {"req-ann", "req-ann-playground"}
    assert ann.get("/api/logs/req-bob").status_code == 404
    detail = ann.get("/api/logs/req-ann").json()
    assert MINE in detail["bodies"]["inbound_request"]
    assert {k["name"] for k in ann.get("/api/keys/").json()} == {"ann-key"}
    assert ann.get(f"/api/keys/{world['keys']['bob'].pk}").status_code == 404
    refused = ann.post(f"/api/keys/{world['keys']['bob'].pk}/revoke")
    assert refused.status_code == 404


def request_ids(html: str) -> set[str]:
    return set(re.findall(r'title="([^"]+)"', html))


@pytest.mark.django_db(transaction=True)
async def test_member_live_tail_shows_only_their_own_requests() -> None:
    world = await sync_to_async(setup_world)()
    communicator = WebsocketCommunicator(
        LogTailConsumer.as_asgi(poll_seconds=0.05), "/ws/logs/tail/"
    )
    communicator.scope["user"] = world["users"]["ann"]
    connected, _ = await communicator.connect()
    assert connected
    for name in ("ann", "bob"):
        await RequestLog.objects.acreate(
            request_id=f"tail-{name}", route="chat", status=200, key_id=world["keys"][name].pk
        )
    found: set[str] = set()
    while "tail-ann" not in found:
        found |= request_ids(await communicator.receive_from(timeout=3))
    assert await communicator.receive_nothing(timeout=0.3)
    assert found == {"tail-ann"}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_viewer_cannot_open_the_playground_socket_and_no_role_no_tail() -> None:
    world = await sync_to_async(setup_world)()
    playground = WebsocketCommunicator(PlaygroundConsumer.as_asgi(), "/ws/playground/")
    playground.scope["user"] = world["users"]["vic"]
    connected, code = await playground.connect()
    assert not connected and code == 4403
    nobody = await sync_to_async(User.objects.create_user)("nobody", password="pw-123456789")
    tail = WebsocketCommunicator(LogTailConsumer.as_asgi(), "/ws/logs/tail/")
    tail.scope["user"] = nobody
    connected, code = await tail.connect()
    assert not connected and code == 4403


BEFORE = [("gateway", "0017_route_context_window_fallbacks")]


@pytest.mark.django_db(transaction=True)
def test_migration_makes_existing_staff_owners_and_keeps_keys_teamless() -> None:
    OldKey = at(BEFORE).get_model("gateway", "ApiKey")
    staff = User.objects.create_user("old-admin", password="pw-123456789", is_staff=True)
    plain = User.objects.create_user("old-user", password="pw-123456789")
    old_key = OldKey.objects.create(name="old", prefix="sy-old", key_hash="o" * 64)
    latest()
    assert Profile.objects.get(user=staff).role == "owner"
    assert not Profile.objects.filter(user=plain).exists()
    assert roles.role_of(User.objects.get(pk=plain.pk)) is None
    key = ApiKey.objects.get(pk=old_key.pk)
    assert key.team_id is None and key.user_id is None and key.scopes == ""
    assert signed_in(User.objects.get(pk=staff.pk)).get("/users/").status_code == 200


@pytest.mark.django_db
def test_dashboard_and_usage_show_only_the_keys_of_ones_teams() -> None:
    from django.utils import timezone

    from gateway.models import UsageRollup
    from gateway.telemetry import rollups

    world = setup_world()
    other = Team.objects.create(name="other")
    zed = ApiKey.objects.create(name="zed-key", prefix="sy-zed", key_hash="z" * 64, team=other)
    hour = rollups.hour_of(timezone.now())
    for k in (world["keys"]["ann"], zed):
        UsageRollup.objects.create(
            hour=hour,
            route="chat",
            key_id=k.pk,
            key_name=k.name,
            dialect="openai",
            status_class=2,
            requests=3,
            cost_usd=Decimal("0.5"),
        )
    vic = signed_in(world["users"]["vic"])
    for url in ("/usage/export.csv", "/?window=24h"):  # /usage/: Spend (test_one_spend_page)
        response = vic.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200, url
        assert b"zed-key" not in body, url
    assert b"ann-key" in b"".join(vic.get("/usage/export.csv").streaming_content)
    owner = User.objects.create_user("olga", password="pw-123456789", is_staff=True)
    assert b"zed-key" in b"".join(signed_in(owner).get("/usage/export.csv").streaming_content)
    # the dashboard's totals, charts and routes too: a viewer's are its teams' keys'
    from console import stats

    ann = world["keys"]["ann"].pk
    for window in ("24h", "7d"):
        everyone = stats.dashboard(window, timezone.now())
        mine = stats.scoped_dashboard(window, {ann})
        assert everyone.totals.requests == 6 and mine.totals.requests == 3, window
        assert sum(b.requests for b in mine.buckets) == 3
        assert [r["requests"] for r in mine.by_route] == [3]
        assert mine.totals.cost == Decimal("0.5") and everyone.totals.cost == Decimal("1.0")
        assert mine.totals.p50_ms is None  # the hours keep the gateway's histogram only
    from gateway.models import RequestLog

    raw = stats.scoped_dashboard("1h", {ann}).totals.requests  # the hour view: raw rows
    assert raw == RequestLog.objects.filter(key_id=ann).count()
    assert raw < RequestLog.objects.count()


@pytest.mark.django_db
def test_a_viewer_is_not_offered_what_it_may_not_do() -> None:
    from gateway.models import Route

    world = setup_world()
    Route.objects.create(name="chat")
    vic = signed_in(world["users"]["vic"]).get("/routes/").content.decode()
    assert "chat" in vic and "New route" not in vic and ">Delete<" not in vic
    keys = signed_in(world["users"]["vic"]).get("/keys/").content.decode()
    assert "Create key" not in keys and ">Revoke<" not in keys


@pytest.mark.django_db
def test_django_admin_is_for_owners_only() -> None:
    boss = User.objects.create_superuser("boss", "", "pw-123456789")
    assert signed_in(boss).get("/admin/gateway/apikey/").status_code == 200
    roles.set_role(boss, "viewer")
    demoted = signed_in(User.objects.get(pk=boss.pk)).get("/admin/gateway/apikey/")
    assert demoted.status_code == 302 and "/admin/login/" in demoted["Location"]


@pytest.mark.django_db
def test_the_playground_offers_a_member_only_routes_open_to_their_teams() -> None:
    from gateway.access import registry
    from gateway.models import Route

    world = setup_world()
    beta = Team.objects.create(name="beta")
    Route.objects.create(name="open-route")
    Route.objects.create(name="alpha-route").teams.set([world["team"]])
    Route.objects.create(name="beta-route").teams.set([beta])
    page = signed_in(world["users"]["ann"]).get("/playground/").content.decode()
    assert "open-route" in page and "alpha-route" in page and "beta-route" not in page
    snap = registry.build_snapshot()
    ann = roles.actor_for_user(world["users"]["ann"])
    assert roles.may_use_route(ann, snap.routes["alpha-route"])
    assert not roles.may_use_route(ann, snap.routes["beta-route"])
    assert roles.may_use_route(roles.MASTER, snap.routes["beta-route"])


@pytest.mark.django_db
def test_an_editor_is_offered_changes_on_its_teams_routes_only() -> None:
    from gateway.models import Route

    world = setup_world()
    ed = User.objects.create_user("ed", password="pw-123456789")
    roles.set_role(ed, "editor")
    roles.assign_membership(ed, Team.objects.get(name="alpha"), "editor")
    ours = Route.objects.create(name="ours")
    ours.teams.add(Team.objects.get(name="alpha"))
    theirs = Route.objects.create(name="theirs")
    theirs.teams.add(Team.objects.create(name="beta"))
    page = signed_in(ed).get("/routes/").content.decode()
    assert f"/routes/{ours.pk}/delete/" in page and f"/routes/{theirs.pk}/delete/" not in page
    assert f"/routes/{ours.pk}/deployments/new/" in page
    assert f"/routes/{theirs.pk}/deployments/new/" not in page
    assert signed_in(ed).post(f"/routes/{theirs.pk}/delete/").status_code == 403
    assert world  # the team's members exist beside the editor
