"""What a key may hold, through /api/keys (the ``key.grant`` rule): a member or editor
keeps a key inside their team and its limits (H2), an editor gives a team key only to a
member of that team (L18), and nobody below owner reaches owner powers through a
management key (M8). Owners and admins are unchanged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import ApiKey, Route, Team
from gateway.models.telemetry import AuditEvent

pytestmark = pytest.mark.django_db
MASTER = "sy-test-master-key-scope"


@pytest.fixture
def world(settings) -> dict:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    team = Team.objects.create(
        name="alpha",
        rpm_limit=10,
        tpm_limit=1000,
        budget_usd=Decimal("0.01"),
        budget_period="day",
        mcp_allowed=["probe__safe_tool"],
    )
    beta = Team.objects.create(name="beta")
    Route.objects.create(name="open")
    Route.objects.create(name="alpha-only").teams.set([team])
    Route.objects.create(name="beta-only").teams.set([beta])
    users = {}
    for name, role in (
        ("owner", "owner"),
        ("admin", "admin"),
        ("ed", "editor"),
        ("mem", "member"),
        ("mate", "member"),
        ("stranger", "member"),
    ):
        users[name] = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(users[name], role)
    for name in ("ed", "mem", "mate"):
        roles.assign_membership(users[name], team, users[name].switchyard.role)
    roles.assign_membership(users["stranger"], beta, "member")
    return {"team": team, "beta": beta, "users": users}


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, path: str, body: dict | None = None):
    return getattr(client, method)(
        path, data=json.dumps(body or {}), content_type="application/json"
    )


WITHIN = {"rpm_limit": 5, "tpm_limit": 500, "budget_usd": "0.005", "budget_period": "day"}


def test_member_key_without_team_gets_their_team_and_follows_its_limits(world) -> None:
    made = send(as_user(world["users"]["mem"]), "post", "/api/keys/", {"name": "mine"})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["team"] == "alpha" and body["user"] == "mem"
    # empty: the team's, followed live (tests/gateway/access/rules/test_keys.py)
    assert body["rpm_limit"] is None and body["budget_usd"] is None


@pytest.mark.parametrize(
    "extra, named",
    [
        ({"team": None, "rpm_limit": None, "budget_usd": None}, "team"),
        ({"team": "beta"}, "beta"),
        ({"team": "alpha", "rpm_limit": 11}, "rpm_limit"),
        ({"team": "alpha", "budget_usd": "100"}, "budget_usd"),
        ({"team": "alpha", "tpm_limit": 999999}, "tpm_limit"),
        ({"team": "alpha", "routes": ["beta-only"]}, "beta-only"),
        ({"team": "alpha", "mcp_allowed": ["*"]}, "mcp_allowed"),
        ({"team": "alpha", "mcp_allowed": ["probe"]}, "mcp_allowed"),
        ({"team": "alpha", "scopes": ["management"]}, "management"),
        ({"team": "alpha", "user": "mate"}, "your keys are your own"),
    ],
)
def test_member_cannot_create_a_key_beyond_their_team(world, extra, named) -> None:
    client = as_user(world["users"]["mem"])
    reply = send(client, "post", "/api/keys/", {"name": "wide", **WITHIN, **extra})
    assert reply.status_code == 403, reply.content
    assert named in reply.json()["detail"]
    assert not ApiKey.objects.filter(name="wide").exists()


def test_member_creates_a_key_within_their_team(world) -> None:
    client = as_user(world["users"]["mem"])
    body = {
        "name": "ok",
        "team": "alpha",
        **WITHIN,
        "routes": ["open", "alpha-only"],
        "mcp_allowed": ["probe__safe_tool"],
    }
    assert send(client, "post", "/api/keys/", body).status_code == 201


def test_member_cannot_widen_the_team_key_an_admin_gave_them(world) -> None:
    """The probe's PATCH: team, budget and rpm to null, every MCP server."""
    given = send(
        as_user(world["users"]["admin"]),
        "post",
        "/api/keys/",
        {"name": "given", "team": "alpha", "user": "mem", **WITHIN},
    )
    assert given.status_code == 201
    key_id = given.json()["id"]
    client = as_user(world["users"]["mem"])
    for change in (
        {"team": None, "budget_usd": None, "rpm_limit": None, "mcp_allowed": ["*"]},
        {"rpm_limit": 50},
        {"mcp_allowed": ["*"]},
        {"team": "beta"},
    ):
        reply = send(client, "patch", f"/api/keys/{key_id}", change)
        assert reply.status_code == 403, (change, reply.content)
    key = ApiKey.objects.get(pk=key_id)
    assert key.team_id == world["team"].pk and key.rpm_limit == 5 and key.mcp_allowed == []
    # it may still lower a limit; clearing the admin's budget would make it the team's
    # (wider): refused, naming the field
    assert send(client, "patch", f"/api/keys/{key_id}", {"rpm_limit": 2}).status_code == 200
    cleared = send(client, "patch", f"/api/keys/{key_id}", {"budget_usd": None})
    assert cleared.status_code == 403 and "budget_usd" in cleared.json()["detail"]
    assert ApiKey.objects.get(pk=key_id).budget_usd == Decimal(WITHIN["budget_usd"])


def test_editor_gives_team_keys_only_to_members_of_the_team(world) -> None:
    client = as_user(world["users"]["ed"])
    to_mate = {"name": "for-mate", "team": "alpha", "user": "mate", **WITHIN}
    assert send(client, "post", "/api/keys/", to_mate).status_code == 201
    to_stranger = {"name": "for-stranger", "team": "alpha", "user": "stranger", **WITHIN}
    reply = send(client, "post", "/api/keys/", to_stranger)
    assert reply.status_code == 403 and "member of it" in reply.json()["detail"]
    owned = {"name": "for-owner", "team": "alpha", "user": "owner", **WITHIN}
    assert send(client, "post", "/api/keys/", owned).status_code == 403
    assert not ApiKey.objects.filter(name__in=["for-stranger", "for-owner"]).exists()


def test_editor_keys_stay_within_the_team_limits(world) -> None:
    client = as_user(world["users"]["ed"])
    reply = send(client, "post", "/api/keys/", {"name": "wide", "team": "alpha", "rpm_limit": 1000})
    assert reply.status_code == 403 and "rpm_limit" in reply.json()["detail"]


def test_owners_and_admins_are_unchanged(world) -> None:
    for who in ("owner", "admin"):
        reply = send(
            as_user(world["users"][who]),
            "post",
            "/api/keys/",
            {"name": f"free-{who}", "routes": ["beta-only"], "mcp_allowed": ["*"]},
        )
        assert reply.status_code == 201, reply.content


def test_admin_cannot_mint_a_management_key_for_the_owner(world) -> None:
    """M8: the admin's key for the owner's user would act as owner."""
    admin = as_user(world["users"]["admin"])
    reply = send(
        admin, "post", "/api/keys/", {"name": "m", "user": "owner", "scopes": ["management"]}
    )
    assert reply.status_code == 403 and "only owners" in reply.json()["detail"]
    assert not ApiKey.objects.filter(name="m").exists()
    # nor by moving their own management key to the owner
    own = send(
        admin, "post", "/api/keys/", {"name": "own", "user": "admin", "scopes": ["management"]}
    )
    assert own.status_code == 201
    moved = send(admin, "patch", f"/api/keys/{own.json()['id']}", {"user": "owner"})
    assert moved.status_code == 403
    assert ApiKey.objects.get(name="own").user == world["users"]["admin"]


def test_admin_gives_no_plain_key_to_the_owner(world) -> None:
    """Probe residual: an admin's ordinary key owned by the owner put its use and spend
    on the owner's name (and under the owner's own limits)."""
    admin = as_user(world["users"]["admin"])
    reply = send(admin, "post", "/api/keys/", {"name": "for-owner", "user": "owner"})
    assert reply.status_code == 403 and "owner" in reply.json()["detail"]
    assert not ApiKey.objects.filter(name="for-owner").exists()
    mine = send(admin, "post", "/api/keys/", {"name": "mine", "user": "admin"})
    assert mine.status_code == 201
    assert (
        send(admin, "patch", f"/api/keys/{mine.json()['id']}", {"user": "owner"}).status_code == 403
    )


def test_owner_mints_a_management_key_for_an_admin_and_the_audit_names_the_owner(world) -> None:
    owner = as_user(world["users"]["owner"])
    reply = send(
        owner, "post", "/api/keys/", {"name": "ops", "user": "admin", "scopes": ["management"]}
    )
    assert reply.status_code == 201
    minted = AuditEvent.objects.get(action="mint")
    assert minted.actor == "owner" and "owner minted this key for admin" in minted.detail
    # a key of one's own is no "mint"
    send(owner, "post", "/api/keys/", {"name": "self", "scopes": ["management"], "user": "owner"})
    assert AuditEvent.objects.filter(action="mint").count() == 1


def test_master_key_mint_is_audited_as_the_master_key(world) -> None:
    master = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    reply = send(master, "post", "/api/keys/", {"name": "svc", "user": "mem"})
    assert reply.status_code == 201
    assert "the master key minted this key for mem" in AuditEvent.objects.get(action="mint").detail


def test_a_key_is_given_only_to_oneself_or_someone_of_a_lower_role(world) -> None:
    """L23: an editor minted keys owned by the owners and admins of their team (their use
    and spend on a superior's name); an admin, keys owned by another admin. A key's owner
    is its minter or someone of a strictly lower role; owners give keys to anyone."""
    users, team = world["users"], world["team"]
    for name in ("owner", "admin"):
        roles.assign_membership(users[name], team, "editor")
    ed = as_user(users["ed"])
    for superior in ("owner", "admin"):
        body = {"name": f"for-{superior}", "team": "alpha", "user": superior, **WITHIN}
        reply = send(ed, "post", "/api/keys/", body)
        assert reply.status_code == 403, reply.content
        assert "lower role than editor" in reply.json()["detail"]
        assert not ApiKey.objects.filter(name=f"for-{superior}").exists()
    # the same request for a member of the team: the path is live
    made = send(ed, "post", "/api/keys/", {"name": "for-mem", "team": "alpha", "user": "mem"})
    assert made.status_code == 201, made.content
    # nor moved onto a superior afterwards
    moved = send(ed, "patch", f"/api/keys/{made.json()['id']}", {"user": "admin"})
    assert moved.status_code == 403 and ApiKey.objects.get(name="for-mem").user == users["mem"]
    # an admin reaches over no other admin; an owner gives a key to anyone
    other = User.objects.create_user("admin2", password="pw-123456789")
    roles.set_role(other, "admin")
    admin = as_user(users["admin"])
    assert send(admin, "post", "/api/keys/", {"name": "a2", "user": "admin2"}).status_code == 403
    assert send(admin, "post", "/api/keys/", {"name": "e", "user": "ed"}).status_code == 201
    owner = as_user(users["owner"])
    assert send(owner, "post", "/api/keys/", {"name": "o", "user": "admin2"}).status_code == 201
