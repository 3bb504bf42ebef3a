"""The audit trail of each kind of change: a console edit, an /api edit, a config import,
a management command and console sign-ins (good and bad); who, from where, what and the
fields changed with secrets masked; append-only rows pruned only by the retention
setting; /api/audit filters and exports (CSV, JSON)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from gateway.journal import pruning
from gateway.models import ApiKey, AuditEvent, Provider, Route
from gateway.models.telemetry import AppendOnly
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import
from gateway.telemetry import audit, audit_query

pytestmark = pytest.mark.django_db
SECRET = "sk-live-Audit-Distinctive-77Qx"
HEADER_TOKEN = "hdr-token-Distinctive-55Zy"
MASTER = "sy-master-audit"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("ops", password="pw-123456789", is_staff=True)


@pytest.fixture
def console(staff) -> Client:
    client = Client(HTTP_USER_AGENT="audit-browser/1.0", REMOTE_ADDR="10.1.2.3")
    client.force_login(staff)
    return client


@pytest.fixture
def api(settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}", HTTP_USER_AGENT="curl/8")


def no_secret_anywhere() -> None:
    dumped = json.dumps([audit_query.as_dict(e) for e in AuditEvent.objects.all()], default=str)
    for secret in (SECRET, HEADER_TOKEN):
        assert secret not in dumped


def test_a_console_edit_is_the_signed_in_users_with_a_masked_diff(console, staff):
    reply = console.post(
        "/providers/new/",
        {
            "name": "openai",
            "kind": "openai",
            "base_url": "https://api.example/v1",
            "secret": SECRET,
            "extra_headers": json.dumps({"X-Token": HEADER_TOKEN}),
        },
    )
    assert reply.status_code == 302
    provider = Provider.objects.get(name="openai")
    created = AuditEvent.objects.get(action="create", object_type="provider")
    assert (created.actor_kind, created.actor, created.actor_id) == ("user", "ops", str(staff.pk))
    assert created.source == "console" and created.ip == "10.1.2.3"
    assert created.user_agent == "audit-browser/1.0"
    assert created.object_id == str(provider.pk) and created.object_name == "openai"
    assert created.changes["secret_ciphertext"] == [None, "***"]
    assert created.changes["extra_headers"] == [None, {"X-Token": "***"}]

    console.post(
        f"/providers/{provider.pk}/",
        {
            "name": "openai",
            "kind": "openai",
            "base_url": "https://user:pw-in-url@api.example/v2",
            "secret": "sk-another-secret-value",
            "extra_headers": json.dumps({"X-Token": HEADER_TOKEN}),
        },
    )
    updated = AuditEvent.objects.get(action="update", object_type="provider")
    assert updated.changes["base_url"] == [
        "https://api.example/v1",
        "https://***@api.example/v2",
    ]
    assert updated.changes["secret_ciphertext"] == ["***", "***"]  # changed, never shown
    assert "extra_headers" not in updated.changes  # re-sent unchanged: no entry
    assert "sk-another-secret-value" not in json.dumps(updated.changes)
    no_secret_anywhere()

    console.post(f"/providers/{provider.pk}/delete/")
    deleted = AuditEvent.objects.get(action="delete", object_type="provider")
    assert deleted.object_name == "openai" and deleted.changes["name"] == ["openai", None]


def test_an_api_edit_is_the_master_keys(api):
    Route.objects.create(name="echo")
    reply = api.post(
        "/api/keys/",
        data=json.dumps({"name": "agent", "routes": ["echo"], "max_budget_per_user": "2"}),
        content_type="application/json",
    )
    assert reply.status_code == 201, reply.content
    key = ApiKey.objects.get(name="agent")
    raw = reply.json()["key"]
    event = AuditEvent.objects.get(action="create", object_type="key")
    assert (event.actor_kind, event.actor, event.source) == ("master", "master key", "api")
    assert event.user_agent == "curl/8" and event.ip == "127.0.0.1"
    assert event.changes["key_hash"] == [None, "***"]
    assert event.changes["max_budget_per_user"] == [None, "2.0000"]
    routes = AuditEvent.objects.get(action="update", object_type="key")
    assert routes.changes == {"routes": {"added": ["echo"]}}
    api.patch(
        f"/api/keys/{key.pk}",
        data=json.dumps({"rpm_limit": 30}),
        content_type="application/json",
    )
    patched = AuditEvent.objects.filter(action="update", object_type="key").first()
    assert patched.changes == {"rpm_limit": [None, 30]}
    assert raw not in json.dumps([audit_query.as_dict(e) for e in AuditEvent.objects.all()])


CONFIG = f"""
model_list:
  - model_name: gpt4o
    litellm_params: {{model: openai/gpt-4o, api_key: {SECRET}}}
"""


def test_a_config_import_marks_its_changes_and_sums_them_up(staff):
    first = AuditEvent.objects.count()
    with audit.acting(audit.Actor("user", "ops", str(staff.pk), "console")):
        apply_plan(plan_import(parse_config(CONFIG)))
    events = list(AuditEvent.objects.order_by("id"))[first:]
    assert {e.source for e in events} == {"import"}
    assert {e.actor for e in events} == {"ops"}
    assert [e.object_type for e in events if e.action == "create"] == [
        "provider",
        "route",
        "deployment",
    ]
    summary = events[-1]
    assert summary.action == "import" and "1 route" in summary.detail
    no_secret_anywhere()
    count = len(events)
    with audit.acting(audit.Actor("user", "ops", str(staff.pk), "console")):
        apply_plan(plan_import(parse_config(CONFIG)))  # again: nothing changes
    assert AuditEvent.objects.exclude(action="import").count() == first + count - 1


def test_the_console_import_page_is_audited_as_an_import(console):
    reply = console.post("/routes/import/", {"config": CONFIG, "apply": "1"})
    assert reply.status_code == 200 and Provider.objects.exists()
    event = AuditEvent.objects.filter(action="import").get()
    assert (event.actor, event.source, event.ip) == ("ops", "import", "10.1.2.3")


def test_a_management_command_is_the_commands(db):
    Route.objects.create(name="echo")
    call_command("create_key", "--name", "ci", stdout=StringIO())
    event = AuditEvent.objects.get(action="create", object_type="key")
    assert (event.actor_kind, event.actor, event.source) == (
        "command",
        "manage.py create_key",
        "command",
    )


def test_console_sign_ins_good_and_bad_are_audited(staff):
    client = Client(HTTP_USER_AGENT="login-browser", REMOTE_ADDR="10.9.9.9")
    client.post("/login/", {"username": "ops", "password": "wrong-password-123"})
    failed = AuditEvent.objects.get(action="login_failed")
    assert (failed.actor, failed.ip, failed.user_agent) == ("ops", "10.9.9.9", "login-browser")
    assert "wrong-password-123" not in json.dumps(audit_query.as_dict(failed), default=str)
    client.post("/login/", {"username": "ops", "password": "pw-123456789"})
    ok = AuditEvent.objects.get(action="login")
    assert (ok.actor_kind, ok.actor, ok.source, ok.ip) == ("user", "ops", "login", "10.9.9.9")
    assert not AuditEvent.objects.filter(object_type="user", action="update").exists()


@pytest.mark.django_db(transaction=True)  # the pruning round closes stale connections
def test_events_are_append_only_and_pruned_only_by_the_retention_setting(settings):
    event = audit.record("update", object_type="route", object_name="x")
    event.detail = "rewritten"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.update(detail="x")
    old = audit.record("update", object_type="route", object_name="old")
    AuditEvent.objects.filter(pk=old.pk)  # the row itself: aged through the database
    from django.db import connection

    with connection.cursor() as cursor:
        table = AuditEvent._meta.db_table
        cursor.execute(
            f"UPDATE {table} SET created_at = %s WHERE id = %s",
            [timezone.now() - timedelta(days=40), old.pk],
        )
    settings.SWITCHYARD_AUDIT_RETENTION_DAYS = 0
    pruning.prune_round(None, max_batches=5)
    assert AuditEvent.objects.filter(pk=old.pk).exists()  # kept unless a retention is set
    settings.SWITCHYARD_AUDIT_RETENTION_DAYS = 30
    pruning.prune_round(None, max_batches=5)
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_djangos_own_commands_are_named_too(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/srv/switchyard/manage.py", "createsuperuser"])
    User.objects.create_superuser("root", "", "pw-123456789")
    event = AuditEvent.objects.get(object_type="user", object_name="root")
    assert (event.actor_kind, event.actor, event.source) == (
        "command",
        "manage.py createsuperuser",
        "command",
    )
    assert event.changes["password"] == [None, "***"]


def test_teams_memberships_roles_and_mcp_servers_are_audited(api):
    reply = api.post(
        "/api/teams/", data=json.dumps({"name": "red"}), content_type="application/json"
    )
    assert reply.status_code in (200, 201), reply.content
    assert AuditEvent.objects.filter(action="create", object_type="team", object_name="red")
    from django.contrib.auth.models import User

    from gateway.access import roles
    from gateway.models import McpServer, Team

    user = User.objects.create_user("rita", password="pw-123456789")
    roles.set_role(user, "editor")
    roles.assign_membership(user, Team.objects.get(name="red"), "editor")
    assert AuditEvent.objects.filter(object_type="role", action="create").exists()
    assert AuditEvent.objects.filter(object_type="membership", action="create").exists()
    McpServer.objects.create(name="docs", transport="streamable_http", url="https://mcp.example/")
    assert AuditEvent.objects.filter(object_type="mcp_server", object_name="docs").exists()


def test_a_row_whose_related_row_went_first_is_still_audited_by_id(caplog):
    """Two requests at once: one deletes a team while the other removes a member. By the
    member's delete its ``str`` cannot reach the team; the event is written all the same."""
    from gateway.access import roles
    from gateway.models import Membership, Team

    team = Team.objects.create(name="green")
    roles.assign_membership(
        User.objects.create_user("gil", password="pw-123456789"), team, "viewer"
    )
    member = Membership.objects.get(team=team)  # the team not cached on it
    member_id = member.pk
    Team.objects.filter(pk=team.pk)._raw_delete("default")  # the other request's delete
    caplog.clear()
    member.delete()
    gone = AuditEvent.objects.get(object_type="membership", action="delete")
    assert (gone.object_name, gone.object_id) == (f"membership {member_id}", str(member_id))
    assert not [r for r in caplog.records if r.exc_info], caplog.text
