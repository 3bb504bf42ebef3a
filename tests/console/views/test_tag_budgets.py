"""Tag budgets on the console's Spend page: owners and admins see each tag's budget
("spent $X of $Y this month") beside its spend and set one with the page's form (the
field rules and save of /api/tags); below admin neither the form nor the budgets show
and a post is refused. The keys form's "Only its own tags" is offered to admins only."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from gateway import journal
from gateway.access import roles
from gateway.models import ApiKey, TagBudget

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def as_role(role: str) -> Client:
    user = User.objects.create_user(role, password="pw-123456789")
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


def tagged_spend(usd: str, *tags: str) -> None:
    key = ApiKey.objects.create(name=f"k{usd}", prefix="sy-k", key_hash=usd.ljust(64, "0"))
    journal.write_batch(
        [
            journal.Record(
                request_id=f"r-{usd}",
                key_id=key.pk,
                key_name=key.name,
                dialect="openai",
                endpoint="chat",
                status=200,
                cost_usd=Decimal(usd),
                tags=tags,
            )
        ]
    )


def test_an_admin_sets_a_tag_budget_and_sees_its_standing_beside_its_spend():
    admin = as_role("admin")
    tagged_spend("1.5", "search", "prod")
    saved = admin.post(
        reverse("console:tag-budget-save"),
        {"name": "search", "max_budget": "5", "budget_period": "month", "rpm_limit": "30"},
    )
    assert saved.status_code == 302, saved.content
    row = TagBudget.objects.get(name="search")
    assert row.budget_usd == Decimal("5") and row.rpm_limit == 30
    page = text(admin.get(reverse("console:spend"), {"window": "30d"}).content.decode())
    assert "Tag budgets" in page
    assert "Spent $1.50 of $5.00 this month" in page
    # the same name again changes it; a bad value is a 422 on the page naming it
    admin.post(reverse("console:tag-budget-save"), {"name": "search", "budget_period": "day"})
    assert TagBudget.objects.get(name="search").budget_period == "day"
    bad = admin.post(reverse("console:tag-budget-save"), {"name": "a,b", "budget_period": "month"})
    assert bad.status_code == 422 and "comma" in bad.content.decode()
    removed = admin.post(reverse("console:tag-budget-delete", args=[row.pk]))
    assert removed.status_code == 302 and not TagBudget.objects.exists()


def test_below_admin_tag_budgets_are_neither_shown_nor_set():
    editor = as_role("editor")
    page = editor.get(reverse("console:spend")).content.decode()
    assert page and "Tag budgets" not in page
    refused = editor.post(
        reverse("console:tag-budget-save"), {"name": "search", "budget_period": "month"}
    )
    assert refused.status_code == 403 and not TagBudget.objects.exists()


def test_only_admins_are_offered_only_its_own_tags_on_a_key():
    admin_page = as_role("admin").get(reverse("console:keys")).content.decode()
    assert 'name="enforce_tags"' in admin_page
    member_page = as_role("member").get(reverse("console:keys")).content.decode()
    assert 'name="enforce_tags"' not in member_page


def test_an_admin_makes_a_key_that_enforces_its_tags_from_the_keys_form():
    admin = as_role("admin")
    made = admin.post(
        "/keys/new/",
        {
            "name": "attributed",
            "budget_period": "month",
            "tags": "team:search",
            "enforce_tags": "on",
        },
    )
    assert made.status_code == 200, made.content
    key = ApiKey.objects.get(name="attributed")
    assert key.enforce_tags and key.tags == ["team:search"]
    plain = admin.post("/keys/new/", {"name": "plain", "budget_period": "month"})
    assert plain.status_code == 200 and not ApiKey.objects.get(name="plain").enforce_tags
