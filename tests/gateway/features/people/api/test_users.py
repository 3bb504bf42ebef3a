"""People through /api (#43): local users made with a role, teams and a checked name and
password (field errors, never a 500); invitations (a one-time link shown once, rule
user.invite: an admin invites no owner); deactivation (the user's keys refused at once)
and removal (keys revoked and kept, logs kept), each with its audit row."""

from __future__ import annotations

import json

import orjson
import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import Client

from gateway import journal
from gateway.access import keys, registry, roles
from gateway.access.registry import build_snapshot
from gateway.edge import endpoints
from gateway.features.people import invites
from gateway.models import ApiKey, AuditEvent, Invite, Membership, RegistryState, RequestLog, Team
from tests.gateway.features.people.accounts import as_user, made

pytestmark = pytest.mark.django_db
SCHEMA_REFUSES = {"enter a username", "control, format or space", "longer than 150"}


@pytest.fixture
def people() -> dict[str, User]:
    return made("owner", "admin", "editor", "member")


def send(client: Client, method: str, path: str, body: dict | None = None):
    call = getattr(client, method)
    return call(path, data=json.dumps(body or {}), content_type="application/json")


# --- making users ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username, said",
    [
        ("", "enter a username"),
        ("   ", "enter a username"),
        ("extfiy", "already exists"),  # the same name
        ("ext\ufb01y", "already exists"),  # "ﬁ" (a ligature) folds to "fi": the same name
        ("EXTFIY", "already exists"),
        ("extf\u0456y", "looks like the existing user"),  # a Cyrillic і
        ("a b", "control, format or space"),
        ("a\u202eb", "control, format or space"),
        ("x" * 151, "longer than 150"),
    ],
)
def test_a_bad_username_is_a_field_error_and_writes_nothing(people, username, said) -> None:
    User.objects.create_user("extfiy")
    before = User.objects.count()
    reply = send(as_user(people["owner"]), "post", "/api/users/", {"username": username})
    assert reply.status_code == 422, reply.content
    messages = reply.json()["errors"]["username"]
    # the schema refuses what Django's username rule refuses (empty, spaces, controls,
    # too long); the server the rest (taken, a look-alike, a name equal after NFKC)
    assert said in messages[0] or said in SCHEMA_REFUSES
    assert User.objects.count() == before


def test_a_user_with_a_password_role_and_teams(people) -> None:
    red = Team.objects.create(name="red")
    short = send(
        as_user(people["owner"]),
        "post",
        "/api/users/",
        {"username": "nina", "password": "short", "teams": ["red"]},
    )
    assert short.status_code == 422 and "at least 8" in short.json()["errors"]["password"][0]
    unknown = send(
        as_user(people["owner"]), "post", "/api/users/", {"username": "nina", "teams": ["nope"]}
    )
    assert unknown.status_code == 422 and "nope" in unknown.json()["errors"]["teams"][0]
    assert not User.objects.filter(username="nina").exists()
    made = send(
        as_user(people["owner"]),
        "post",
        "/api/users/",
        {
            "username": "ni\uff4ea",  # a full-width "ｎ": stored normalised
            "password": "long-enough-pw",
            "role": "editor",
            "teams": ["red"],
        },
    )
    assert made.status_code == 201, made.content
    assert made.json()["username"] == "nina" and made.json()["role"] == "editor"
    assert made.json()["teams"] == [{"team": "red", "role": "editor"}]
    assert authenticate(username="nina", password="long-enough-pw") is not None
    assert Membership.objects.get(user__username="nina").team == red


# --- invitations -----------------------------------------------------------------------------


def test_an_owner_invites_and_the_link_is_shown_once(people) -> None:
    Team.objects.create(name="red")
    reply = send(
        as_user(people["owner"]),
        "post",
        "/api/invites/",
        {"username": "ada", "email": "ada@example.com", "role": "viewer", "teams": ["red"]},
    )
    assert reply.status_code == 201, reply.content
    body = reply.json()
    assert body["state"] == "pending" and body["teams"] == ["red"]
    assert body["created_by"] == "owner"
    token = body["link"].rstrip("/").rsplit("/", 1)[-1]
    assert body["link"].startswith("http://testserver/invite/")
    invite = Invite.objects.get(pk=body["id"])
    assert invite.token_hash == invites.token_hash(token) and token not in invite.token_hash
    listed = as_user(people["admin"]).get("/api/invites/").json()
    assert [i["username"] for i in listed] == ["ada"] and listed[0]["link"] is None
    again = send(as_user(people["owner"]), "post", "/api/invites/", {"username": "ada"})
    assert again.status_code == 422 and "pending" in again.json()["errors"]["username"][0]
    row = AuditEvent.objects.get(action="invite_create")
    assert row.actor == "owner" and row.object_name == "ada"
    assert token not in json.dumps(row.changes)


def test_who_may_invite_whom(people) -> None:
    admin = as_user(people["admin"])
    refused = send(admin, "post", "/api/invites/", {"username": "boss", "role": "owner"})
    assert refused.status_code == 403 and "owner" in refused.json()["detail"]
    refused = send(
        admin, "post", "/api/invites/", {"username": "boss", "role": "owner", "password": "x" * 12}
    )
    assert refused.status_code == 403 and not User.objects.filter(username="boss").exists()
    assert (
        send(admin, "post", "/api/invites/", {"username": "peer", "role": "admin"}).status_code
        == 201
    )
    for role in ("editor", "member"):
        reply = send(as_user(people[role]), "post", "/api/invites/", {"username": "x"})
        assert reply.status_code == 403
    owner = send(
        as_user(people["owner"]), "post", "/api/invites/", {"username": "boss", "role": "owner"}
    )
    assert owner.status_code == 201
    assert not Invite.objects.filter(username="x").exists()


def test_bad_invites_are_field_errors(people) -> None:
    owner = as_user(people["owner"])
    reply = send(
        owner, "post", "/api/invites/", {"username": "", "role": "boss", "expires_in_days": 0}
    )
    assert reply.status_code == 422
    assert set(reply.json()["errors"]) == {"role"}  # the role first: the rule needs it
    reply = send(owner, "post", "/api/invites/", {"username": "", "expires_in_days": 0})
    assert set(reply.json()["errors"]) == {"username", "expires_in_days"}
    reply = send(owner, "post", "/api/invites/", {"username": "member"})
    assert "already exists" in reply.json()["errors"]["username"][0]
    assert Invite.objects.count() == 0


def test_an_invite_with_a_password_makes_the_account_now(people) -> None:
    reply = send(
        as_user(people["admin"]),
        "post",
        "/api/invites/",
        {"username": "sam", "role": "member", "password": "sams-password-1"},
    )
    assert reply.status_code == 201, reply.content
    assert reply.json()["state"] == "created" and reply.json()["link"] is None
    assert authenticate(username="sam", password="sams-password-1") is not None
    assert Invite.objects.count() == 0


def test_accepting_makes_the_user_once(people) -> None:
    red = Team.objects.create(name="red")
    issued = invites.issue(people["owner"], "ada", role="editor", teams=[red], days=3)
    user = invites.accept(issued.token, "adas-password-1")
    assert user.get_username() == "ada" and roles.role_of(user) == "editor"
    assert Membership.objects.get(user=user).role == "editor"
    issued.invite.refresh_from_db()
    assert issued.invite.used_by == user and issued.invite.state == "used"
    with pytest.raises(invites.InviteUnusable):
        invites.accept(issued.token, "another-password-2")
    assert User.objects.filter(username="ada").count() == 1
    row = AuditEvent.objects.get(action="invite_accept")
    assert row.actor == "ada" and row.actor_id == str(user.pk)


def test_revoked_and_expired_invites_open_nothing(people) -> None:
    gone = invites.issue(people["owner"], "gone", role="member")
    reply = send(as_user(people["owner"]), "delete", f"/api/invites/{gone.invite.pk}")
    assert reply.status_code == 200 and reply.json()["state"] == "revoked"
    old = invites.issue(people["owner"], "old", role="member")
    Invite.objects.filter(pk=old.invite.pk).update(expires_at=old.invite.created_at)
    for token in (gone.token, old.token, "not-a-token"):
        assert invites.usable(token) is None
        with pytest.raises(invites.InviteUnusable):
            invites.accept(token, "long-enough-pw")
    assert not User.objects.filter(username__in=["gone", "old"]).exists()
    assert as_user(people["owner"]).get("/api/invites/").json() == []
    # an admin revokes no owner's invite
    boss = invites.issue(people["owner"], "boss", role="owner")
    refused = send(as_user(people["admin"]), "delete", f"/api/invites/{boss.invite.pk}")
    assert refused.status_code == 403 and invites.usable(boss.token) is not None


# --- deactivate and remove -------------------------------------------------------------------


async def _v1_status(raw: str) -> tuple[int, str]:
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def out(msg: dict) -> None:
        sent.append(msg)

    endpoint, dialect = endpoints.POST_ROUTES["/v1/chat/completions"]
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    headers = [(b"authorization", b"Bearer " + raw.encode())]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    await app.api(scope, receive, out, endpoint, dialect)
    return sent[0]["status"], orjson.loads(sent[1]["body"])["error"]["message"]


def test_deactivating_refuses_the_users_keys_at_once(people, snapshot_reset, monkeypatch) -> None:
    from asgiref.sync import async_to_sync

    monkeypatch.setattr(journal, "record", lambda record: None)
    minted = keys.create_key(name="m", user=people["member"])
    version = RegistryState.objects.get(pk=1).version
    reply = send(as_user(people["owner"]), "patch", "/api/users/member", {"active": False})
    assert reply.status_code == 200 and reply.json()["active"] is False
    assert RegistryState.objects.get(pk=1).version > version  # every instance rebuilds
    snapshot = build_snapshot()
    assert snapshot.keys[minted.key.key_hash].revoked
    registry.install(snapshot)
    assert async_to_sync(_v1_status)(minted.raw) == (401, "this API key has been revoked")
    # a console session of theirs ends too
    assert as_user(people["member"]).get("/api/keys/").status_code == 401
    row = AuditEvent.objects.get(action="user_deactivate")
    assert row.actor == "owner" and "1 key(s) refused" in row.detail
    # back again
    send(as_user(people["owner"]), "patch", "/api/users/member", {"active": True})
    assert not build_snapshot().keys[minted.key.key_hash].revoked
    # a sign-in (last_login alone) rebuilds nothing
    version = RegistryState.objects.get(pk=1).version
    people["member"].save(update_fields=["last_login"])
    assert RegistryState.objects.get(pk=1).version == version


def test_who_may_deactivate_and_the_guards(people) -> None:
    refused = send(as_user(people["admin"]), "patch", "/api/users/member", {"active": False})
    assert refused.status_code == 403
    self_ = send(as_user(people["owner"]), "patch", "/api/users/owner", {"active": False})
    assert self_.status_code == 409 and "yourself" in self_.json()["detail"]
    assert User.objects.get(username="owner").is_active


def test_removing_revokes_keys_and_keeps_logs(people) -> None:
    minted = keys.create_key(name="m", user=people["member"])
    RequestLog.objects.create(
        request_id="r1", key_id=minted.key.pk, key_name="m", dialect="openai", endpoint="chat"
    )
    owner = as_user(people["owner"])
    assert send(as_user(people["admin"]), "delete", "/api/users/member").status_code == 403
    reply = send(owner, "delete", "/api/users/member")
    assert reply.status_code == 200 and reply.json() == {"username": "member", "keys_revoked": 1}
    assert not User.objects.filter(username="member").exists()
    key = ApiKey.objects.get(pk=minted.key.pk)
    assert key.revoked_at is not None and key.user is None
    assert build_snapshot().keys[key.key_hash].revoked
    assert RequestLog.objects.filter(key_id=key.pk).count() == 1
    row = AuditEvent.objects.get(action="user_remove")
    assert row.object_name == "member" and row.changes == {"keys_revoked": 1}
    assert send(owner, "delete", "/api/users/owner").status_code == 409  # themselves
    assert send(owner, "delete", "/api/users/nobody").status_code == 404


def test_the_last_owner_is_never_removed(people, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-test-1234567890"
    master = {"HTTP_AUTHORIZATION": f"Bearer {settings.SWITCHYARD_MASTER_KEY}"}
    reply = Client().delete("/api/users/owner", **master)
    assert reply.status_code == 409 and "last owner" in reply.json()["detail"]
    reply = Client().patch(
        "/api/users/owner", data='{"active": false}', content_type="application/json", **master
    )
    assert reply.status_code == 409
    assert User.objects.get(username="owner").is_active


def test_listing_users_costs_the_same_queries_for_one_user_or_many(settings) -> None:
    """Each user's role, limits and teams come with the listing, not a query a user."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.SWITCHYARD_MASTER_KEY = "sy-master-users-list"
    api = Client(HTTP_AUTHORIZATION="Bearer sy-master-users-list")
    team = Team.objects.create(name="crew")
    roles.assign_membership(made("owner")["owner"], team, "editor")
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/users/").json()) == 1
    for n in range(4):
        user = User.objects.create_user(f"person-{n}", password="pw-123456789")
        roles.set_role(user, "editor")
        roles.assign_membership(user, team, "viewer")
    with CaptureQueriesContext(connection) as five:
        listed = {u["username"]: u for u in api.get("/api/users/").json()}
    assert listed["person-0"]["role"] == "editor"
    assert listed["person-0"]["teams"] == [{"team": "crew", "role": "viewer"}]
    assert len(five.captured_queries) == len(one.captured_queries), [
        q["sql"][:120] for q in five.captured_queries
    ]
