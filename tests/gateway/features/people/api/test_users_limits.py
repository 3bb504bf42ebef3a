"""A user's own limits through /api/user-limits and the console's users page: owners set
anyone's, admins those below owner, nobody else; the snapshot picks them up."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.access.registry import build_snapshot
from gateway.models import ApiKey, Profile
from tests.gateway.features.people.accounts import as_user, made

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, User]:
    users = made("owner", "admin", "editor", "member")
    users["staff"] = User.objects.create_user("staff", is_staff=True)  # an owner, no profile
    return users


def patch(client: Client, path: str, body: dict):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def test_admin_sets_a_member_limits_and_the_snapshot_counts_them(people) -> None:
    key = ApiKey.objects.create(name="k", prefix="sy-k", key_hash="k" * 64, user=people["member"])
    reply = patch(
        as_user(people["admin"]),
        "/api/user-limits/member",
        {"rpm_limit": 30, "budget_usd": "2.5", "budget_period": "day"},
    )
    assert reply.status_code == 200, reply.content
    assert reply.json()["rpm_limit"] == 30 and reply.json()["budget_period"] == "day"
    owner = build_snapshot().keys[key.key_hash].owner
    assert owner is not None and owner.rpm_limit == 30 and owner.budget_usd == Decimal("2.5")
    listed = as_user(people["owner"]).get("/api/users/member").json()
    assert listed["limits"]["rpm_limit"] == 30
    # null removes a limit; a field left out stays
    cleared = patch(as_user(people["owner"]), "/api/user-limits/member", {"rpm_limit": None})
    assert cleared.json()["rpm_limit"] is None and Decimal(cleared.json()["budget_usd"]) == 2.5


def test_who_may_set_limits(people) -> None:
    body = {"rpm_limit": 5}
    assert patch(as_user(people["member"]), "/api/user-limits/member", body).status_code == 403
    assert patch(as_user(people["editor"]), "/api/user-limits/member", body).status_code == 403
    refused = patch(as_user(people["admin"]), "/api/user-limits/owner", body)
    assert refused.status_code == 403 and "owner" in refused.json()["detail"]
    assert Profile.objects.get(user=people["owner"]).rpm_limit is None
    assert patch(as_user(people["owner"]), "/api/user-limits/admin", body).status_code == 200


def test_bad_limits_name_the_field_and_change_nothing(people) -> None:
    reply = patch(
        as_user(people["owner"]), "/api/user-limits/member", {"rpm_limit": 0, "budget_usd": "x"}
    )
    assert reply.status_code == 422
    assert set(reply.json()["errors"]) == {"rpm_limit", "budget_usd"}
    assert Profile.objects.get(user=people["member"]).rpm_limit is None


def test_a_staff_owner_without_profile_stays_an_owner(people) -> None:
    reply = patch(as_user(people["owner"]), "/api/user-limits/staff", {"budget_usd": "1"})
    assert reply.status_code == 200
    assert roles.role_of_any(people["staff"]) == roles.OWNER


def test_the_console_users_page_sets_limits(people) -> None:
    admin = as_user(people["admin"])
    page = admin.get("/users/")
    assert page.status_code == 200
    assert f"/users/{people['member'].pk}/limits/" in page.content.decode()
    assert f"/users/{people['owner'].pk}/limits/" not in page.content.decode()
    saved = admin.post(
        f"/users/{people['member'].pk}/limits/",
        {"rpm_limit": "7", "tpm_limit": "", "budget_usd": "", "budget_period": "month"},
    )
    assert saved.status_code == 302
    assert Profile.objects.get(user=people["member"]).rpm_limit == 7
    refused = admin.post(
        f"/users/{people['owner'].pk}/limits/", {"rpm_limit": "7", "budget_period": "month"}
    )
    assert refused.status_code == 403
    member = as_user(people["member"]).post(
        f"/users/{people['member'].pk}/limits/", {"rpm_limit": "", "budget_period": "month"}
    )
    assert member.status_code == 403
