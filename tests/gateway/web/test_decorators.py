"""Console pages ask the role policy (``gateway.web.decorators``): signed out goes to sign
in (an htmx request is told to navigate there), a role the page's ability is not given
to gets the 403 page, else the view runs with ``request.actor`` set; a form writing a
field the field table refuses gets the 403 page naming it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpResponse
from django.test import RequestFactory

from gateway.access import field_rules, roles
from gateway.models import Profile
from gateway.web import pages
from gateway.web.decorators import (
    actor_of,
    fields_refused,
    form_values,
    rule_refused,
    staff_required,
)

pytestmark = pytest.mark.django_db


@staff_required
def page(request):  # type: ignore[no-untyped-def]
    return HttpResponse(f"hello {request.actor.role}")


def request_for(user, view_name: str = "", htmx: bool = False, method: str = "get"):  # type: ignore[no-untyped-def]
    made = getattr(RequestFactory(), method)("/console/x/?a=1")
    made.user, made.htmx = user, htmx
    made.resolver_match = SimpleNamespace(view_name=view_name, url_name=view_name.partition(":")[2])
    return made


def page_needing(ability: str) -> str:
    pages.all()
    return next(name for name, need in roles.PAGES.items() if need and need[0] == ability)


def member() -> User:
    user = User.objects.create_user("mo")
    Profile.objects.create(user=user, role=roles.MEMBER)
    return user


def test_signed_out_goes_to_sign_in_and_htmx_is_told_to_navigate() -> None:
    answer = page(request_for(AnonymousUser()))
    assert answer.status_code == 302 and "next=/console/x/%3Fa%3D1" in answer["Location"]
    htmx = page(request_for(AnonymousUser(), htmx=True))
    assert htmx["HX-Redirect"].endswith("?next=/console/x/?a=1")


def test_the_page_opens_for_a_role_given_its_ability_and_not_otherwise() -> None:
    audit = page_needing("audit.view")
    owner = User.objects.create_user("ow", is_staff=True)
    assert page(request_for(owner, audit)).content == b"hello owner"
    refused = page(request_for(member(), audit))
    assert refused.status_code == 403 and b"hello" not in refused.content
    keys = page_needing("keys.view")
    assert page(request_for(User.objects.get(username="mo"), keys)).status_code == 200
    no_role = User.objects.create_user("nobody")  # not staff, no profile: no console
    assert page(request_for(no_role, keys)).status_code == 403


def test_the_actor_is_the_one_set_or_the_users() -> None:
    made = request_for(User.objects.create_user("ow", is_staff=True))
    assert actor_of(made).role == roles.OWNER
    made.actor = roles.MASTER
    assert actor_of(made) is roles.MASTER


def test_form_values_are_the_declared_fields_cleaned() -> None:
    class Form(forms.Form):
        name = forms.CharField()
        size = forms.IntegerField(required=False)

    form = Form({"name": "x"})
    form.fields["extra"] = forms.CharField(required=False)  # added for one instance
    assert form.is_valid()
    assert form_values(form) == {"name": "x", "size": None}


def test_a_field_the_table_refuses_gets_the_403_page_naming_it() -> None:
    made = request_for(member(), method="post")
    refused = fields_refused(made, "routes", {"no_such_field": 1})
    assert refused is not None and refused.status_code == 403
    assert b"no_such_field" in refused.content
    owner = request_for(User.objects.create_user("ow", is_staff=True), method="post")
    field = next(iter(field_rules.FIELDS["routes"]))
    assert fields_refused(owner, "routes", {field: "x"}) is None


def test_a_rule_that_refuses_the_console_user_gets_the_403_page_with_its_reason() -> None:
    target = User.objects.create_user("someone")
    refused = rule_refused(request_for(member(), method="post"), "user.manage", target)
    assert refused is not None and refused.status_code == 403
    owner = request_for(User.objects.create_user("ow", is_staff=True), method="post")
    assert rule_refused(owner, "user.manage", target) is None


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when the write commits
def test_a_console_change_that_races_a_delete_gets_the_409_page(monkeypatch, caplog) -> None:
    """One user deletes a team while another adds a member to it: a page that says so and
    offers the page again, not a 500; nothing half-saved."""
    from django.test import Client

    from gateway.features.people.views import teams as team_views
    from gateway.models import Membership, Team

    team = Team.objects.create(name="racing")
    newcomer = User.objects.create_user("late", password="pw-123456789")
    console = Client()
    console.force_login(User.objects.create_user("boss", password="pw-123456789", is_staff=True))
    real = team_views.roles.assign_membership

    def deleted_meanwhile(user, team, role):  # type: ignore[no-untyped-def]
        Team.objects.filter(pk=team.pk).delete()  # the other user's delete
        return real(user, team, role)

    monkeypatch.setattr(team_views.roles, "assign_membership", deleted_meanwhile)
    answer = console.post(
        f"/teams/{team.pk}/", {"action": "add-member", "user": newcomer.username, "role": "member"}
    )
    assert answer.status_code == 409, answer.content[:500]
    assert (
        b"Changed meanwhile" in answer.content and f"/teams/{team.pk}/".encode() in answer.content
    )
    assert not Membership.objects.exists()
    assert not [r for r in caplog.records if r.exc_info], caplog.text


@pytest.mark.parametrize(
    ("method", "referer", "again"),
    [
        ("get", "", "/teams/7/?tab=members"),  # a read: its own page
        ("post", "http://testserver/teams/7/", "http://testserver/teams/7/"),  # the form's
        ("post", "https://elsewhere.example/teams/7/", "/teams/7/members/add"),  # not ours
        ("post", "", "/teams/7/members/add"),
    ],
)
def test_the_409_page_offers_the_page_the_form_was_sent_from(
    method: str, referer: str, again: str
) -> None:
    """Many console actions answer only POST: the page to open again is the one the form
    was on, never the action's own path (a 405), and never another site's."""
    from django.db import IntegrityError

    from gateway.web.decorators import raced

    path = "/teams/7/?tab=members" if method == "get" else "/teams/7/members/add"
    headers = {"HTTP_REFERER": referer} if referer else {}
    request = getattr(RequestFactory(), method)(path, **headers)
    request.user = User.objects.create_user("boss", password="pw-123456789", is_staff=True)
    answer = raced(request, IntegrityError("gone"))
    assert answer.status_code == 409
    assert f'<a href="{again}">Open the page again</a>'.encode() in answer.content
