"""Tag budgets through /api/tags (LiteLLM's ``max_budget`` and ``budget_duration``
taken), their field rules (owners and admins set them), a key's ``enforce_tags`` (owners
and admins set it; below admin no tag is added to a key that enforces them) and spend
by tag in /api/spend beside each tag's budget."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from gateway.access import field_rules, roles
from gateway.access.registry import build_snapshot
from gateway.models import ApiKey, Membership, RequestLog, RequestTag, TagBudget, Team
from gateway.telemetry import tag_spend

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, User]:
    users = {}
    for name in ("owner", "admin", "editor", "member"):
        users[name] = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(users[name], name)
    return users


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, path: str, body: dict):
    call = getattr(client, method)
    return call(path, data=json.dumps(body), content_type="application/json")


def test_an_admin_makes_a_tag_budget_in_litellms_spelling_and_the_snapshot_counts_it(people):
    admin = as_user(people["admin"])
    reply = send(
        admin,
        "post",
        "/api/tags/",
        {"name": "engineering", "max_budget": "500", "budget_duration": "1mo", "rpm_limit": 60},
    )
    assert reply.status_code == 201, reply.content
    made = reply.json()
    assert made["budget_period"] == "month" and Decimal(made["max_budget"]) == 500
    assert made["rpm_limit"] == 60 and Decimal(made["spend"]) == 0
    entry = build_snapshot().tag_limits["engineering"]
    assert entry.budget_usd == Decimal("500") and entry.rpm_limit == 60
    # changed, then its budget removed: its rpm still counts; no limit at all: not counted
    changed = send(admin, "patch", f"/api/tags/{made['id']}", {"budget_period": "day"})
    assert changed.status_code == 200 and changed.json()["budget_period"] == "day"
    send(admin, "patch", f"/api/tags/{made['id']}", {"max_budget": None})
    assert build_snapshot().tag_limits["engineering"].budget_usd is None
    send(admin, "patch", f"/api/tags/{made['id']}", {"rpm_limit": None})
    assert "engineering" not in build_snapshot().tag_limits
    assert [t["name"] for t in admin.get("/api/tags/").json()] == ["engineering"]
    assert admin.delete(f"/api/tags/{made['id']}").status_code == 204
    assert not TagBudget.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "budget_duration": "7d"}, "budget_duration"),  # no such period here
        ({"name": "x", "budget_duration": "1d", "budget_period": "month"}, "budget_duration"),
        ({"name": "x", "max_budget": "-1"}, "max_budget"),
        ({"name": "x", "rpm_limit": 0}, "rpm_limit"),
        ({"name": "a,b"}, "name"),
        ({"name": "y" * 65}, "name"),
        ({"name": "x", "budget_period": "week"}, "budget_period"),
    ],
)
def test_a_bad_tag_budget_is_a_422_naming_the_field(people, body, field):
    reply = send(as_user(people["owner"]), "post", "/api/tags/", body)
    assert reply.status_code == 422, reply.content
    assert field in reply.json()["errors"]
    assert not TagBudget.objects.exists()


def test_only_owners_and_admins_set_tag_budgets(people):
    body = {"name": "search", "max_budget": "5"}
    for role in ("member", "editor"):
        refused = send(as_user(people[role]), "post", "/api/tags/", body)
        assert refused.status_code == 403, (role, refused.content)
    assert send(as_user(people["admin"]), "post", "/api/tags/", body).status_code == 201
    editor = roles.actor_for_user(people["editor"])
    refused = field_rules.refusals(editor, "tags", {"max_budget": "9", "rpm_limit": 3})
    assert set(refused) == {"max_budget", "rpm_limit"}
    assert "owners and admins" in refused["max_budget"]
    assert field_rules.refusals(roles.actor_for_user(people["admin"]), "tags", body) == {}


# --- a key that enforces its tags ---------------------------------------------------------


def test_enforce_tags_is_set_by_admins_and_tags_of_such_a_key_are_added_by_admins(people):
    member = people["member"]
    crew = Team.objects.create(name="search")
    Membership.objects.create(user=member, team=crew, role="member")
    key = ApiKey.objects.create(
        name="k", prefix="sy-k", key_hash="k" * 64, user=member, team=crew, tags=["team:search"]
    )
    mine = as_user(member)
    refused = send(mine, "patch", f"/api/keys/{key.pk}", {"enforce_tags": True})
    assert refused.status_code == 403 and "enforce_tags" in refused.json()["detail"]
    # control: the member may add a tag while the key does not enforce them
    added = send(mine, "patch", f"/api/keys/{key.pk}", {"tags": ["team:search", "mine"]})
    assert added.status_code == 200, added.content
    made = send(as_user(people["admin"]), "patch", f"/api/keys/{key.pk}", {"enforce_tags": True})
    assert made.status_code == 200 and made.json()["enforce_tags"] is True
    assert build_snapshot().keys[key.key_hash].enforce_tags
    refused = send(mine, "patch", f"/api/keys/{key.pk}", {"tags": ["team:search", "mine", "x"]})
    assert refused.status_code == 403 and "enforces its tags" in refused.json()["detail"]
    assert ApiKey.objects.get(pk=key.pk).tags == ["team:search", "mine"]
    # the same form sent again (nothing added, nothing changed) passes
    same = send(mine, "patch", f"/api/keys/{key.pk}", {"tags": ["team:search", "mine"]})
    assert same.status_code == 200
    cleared = send(mine, "patch", f"/api/keys/{key.pk}", {"enforce_tags": False})
    assert cleared.status_code == 403


# --- spend by tag, beside the tag's budget --------------------------------------------------


def _log(tags: list[str], cost: str, key_id: int = 7) -> None:
    now = timezone.now()
    log = RequestLog.objects.create(
        request_id=f"r{RequestLog.objects.count()}",
        key_id=key_id,
        key_name="ci",
        dialect="openai",
        endpoint="chat",
        route="plain",
        status=200,
        cost_usd=Decimal(cost),
        tags=tags,
        created_at=now,
    )
    for tag in tags:
        RequestTag.objects.create(log=log, tag=tag, created_at=now)
    groups = tag_spend.tally([(now, tags, key_id, "ci", 200, 0, 0, 0, 0, Decimal(cost))])
    tag_spend.add(groups)


def test_spend_by_tag_shows_each_tags_budget_and_its_spend_this_period(people, settings):
    TagBudget.objects.create(name="search", budget_usd=Decimal("2"), budget_period="month")
    _log(["search", "prod"], "0.5")
    _log(["search"], "0.25")
    # last period's spend is not this period's
    old = RequestLog.objects.create(
        request_id="old", key_id=7, key_name="ci", dialect="openai", endpoint="chat",
        route="plain", status=200, cost_usd=Decimal("9"), tags=["search"],
        created_at=timezone.now() - timedelta(days=40),
    )  # fmt: skip
    RequestTag.objects.create(log=old, tag="search", created_at=old.created_at)
    reply = as_user(people["admin"]).get("/api/spend/", {"group_by": "tag"})
    assert reply.status_code == 200, reply.content
    rows = {row["tag"]: row for row in reply.json()["items"]}
    assert Decimal(rows["search"]["max_budget"]) == 2
    assert rows["search"]["budget_period"] == "month"
    assert Decimal(rows["search"]["budget_spend"]) == Decimal("0.75")
    assert rows["prod"]["max_budget"] is None and rows["prod"]["budget_spend"] is None
    listed = as_user(people["admin"]).get("/api/tags/").json()
    assert Decimal(listed[0]["spend"]) == Decimal("0.75")
