"""People in the console (#43): the users page invites (a link shown once, or a password
now) and says how single sign-on users appear; the invitation page makes the account and
signs it in, once; a user's page shows role, teams, keys, own limits and spend, and lets
an owner deactivate and remove; a member's key form offers only what the role may set."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from console.forms import KeyForm
from gateway import journal
from gateway.access import keys, roles, sso
from gateway.base import mail
from gateway.features.people import invites
from gateway.models import ApiKey, AuditEvent, Invite, Profile, Route, Team
from tests.console.role_sets import ADMINS, ALL, OWNERS, PUBLIC, Expectation
from tests.gateway.base.test_mail import serve_stalled
from tests.gateway.features.people.accounts import as_user, made

stalled_smtp = pytest.fixture(serve_stalled)
pytestmark = pytest.mark.django_db

# Who may open the people unit's pages (the role matrix collects this)
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "login": PUBLIC,
    "logout": PUBLIC,
    "sso-start": PUBLIC,
    "sso-callback": PUBLIC,
    "invite-accept": PUBLIC,  # the one-time link itself is the credential
    "teams": (ALL, ADMINS),
    "team-create": (ADMINS, ADMINS),
    "team-edit": (ALL, ADMINS),
    "users": (ADMINS, OWNERS),
    "user-edit": (OWNERS, OWNERS),
    "user-limits": (ADMINS, ADMINS),  # and rule user.limit: admins not an owner's
    # people (#43): a user's page, invitations (rule user.invite), deactivate and remove
    # (rule user.manage: owners), the sign-in settings (owners)
    "user-detail": (ADMINS, OWNERS),
    "user-invite": (ADMINS, ADMINS),
    "invite-revoke": (ADMINS, ADMINS),
    "user-active": (OWNERS, OWNERS),
    "user-remove": (OWNERS, OWNERS),
    "sign-in": (OWNERS, OWNERS),
    "sign-in-discovery": (OWNERS, OWNERS),
}


@pytest.fixture
def people() -> dict[str, User]:
    return made("owner", "admin", "member")


def link_in(html: str) -> str:
    found = re.search(r'id="invite-link" value="([^"]+)"', html)
    assert found, "no invitation link on the page"
    return found.group(1)


def test_an_admin_invites_from_the_users_page_and_the_link_works_once(people) -> None:
    red = Team.objects.create(name="red")
    admin = as_user(people["admin"])
    page = admin.get("/users/").content.decode()
    assert "Invite a teammate" in page and "Single sign-on is off" in page
    assert '<option value="owner"' not in page.split('id="invite"')[1].split("</form>")[0]
    reply = admin.post(
        "/users/invite/",
        {
            "username": "ada",
            "role": "editor",
            "teams": [red.pk],
            "how": "link",
            "expires_in_days": 3,
        },
    )
    assert reply.status_code == 200
    link = link_in(reply.content.decode())
    path = link.removeprefix("http://testserver")
    assert admin.get("/users/").content.decode().count(path) == 0  # shown once
    assert "ada" in admin.get("/users/").content.decode()  # as a pending invite

    newcomer = Client()
    page = newcomer.get(path)
    assert page.status_code == 200 and b"Welcome, ada" in page.content
    assert b"<strong>editor</strong>" in page.content and b"<strong>red</strong>" in page.content
    differ = newcomer.post(path, {"password": "adas-password-1", "password_again": "other-pw-22"})
    assert differ.status_code == 422 and b"The two passwords differ" in differ.content
    short = newcomer.post(path, {"password": "short", "password_again": "short"})
    assert short.status_code == 422 and b"at least 8 characters" in short.content
    assert not User.objects.filter(username="ada").exists()
    done = newcomer.post(path, {"password": "adas-password-1", "password_again": "adas-password-1"})
    assert done.status_code == 302 and done["Location"] == "/"
    dashboard = newcomer.get("/")
    assert dashboard.status_code == 200 and b"ada" in dashboard.content
    ada = User.objects.get(username="ada")
    assert roles.role_of(ada) == "editor" and list(
        ada.memberships.values_list("team__name", "role")
    ) == [("red", "editor")]
    again = Client().get(path)
    assert again.status_code == 404 and b"no longer works" in again.content
    assert (
        Client().post(path, {"password": "x" * 12, "password_again": "x" * 12}).status_code == 404
    )
    assert AuditEvent.objects.filter(action__in=["invite_create", "invite_accept"]).count() == 2


def test_an_admin_may_not_invite_an_owner_through_the_form(people) -> None:
    reply = as_user(people["admin"]).post(
        "/users/invite/", {"username": "boss", "role": "owner", "how": "link", "expires_in_days": 7}
    )
    assert reply.status_code == 422 and b"Select a valid choice" in reply.content
    assert Invite.objects.count() == 0


def test_form_errors_are_shown_by_field(people) -> None:
    owner = as_user(people["owner"])
    reply = owner.post(
        "/users/invite/",
        {"username": "member", "role": "member", "how": "link", "expires_in_days": 7},
        HTTP_HX_REQUEST="true",
    )
    assert reply.status_code == 422
    body = reply.content.decode()
    assert body.lstrip().startswith('<div id="invite-card"')  # the card alone, for htmx
    assert "already exists" in body
    reply = owner.post(
        "/users/invite/",
        {"username": "sam", "role": "member", "how": "password", "expires_in_days": 7},
    )
    assert reply.status_code == 422 and b"Enter the password" in reply.content
    made = owner.post(
        "/users/invite/",
        {
            "username": "sam",
            "role": "member",
            "how": "password",
            "password": "sams-password",
            "expires_in_days": 7,
        },
    )
    assert made.status_code == 200 and b"sam can sign in" in made.content
    assert Client().login(username="sam", password="sams-password")


def test_unknown_and_expired_links_create_nothing(people) -> None:
    issued = invites.issue(people["owner"], "late", role="member")
    Invite.objects.filter(pk=issued.invite.pk).update(expires_at=issued.invite.created_at)
    for path in (f"/invite/{issued.token}/", "/invite/made-up/"):
        page = Client().post(path, {"password": "x" * 12, "password_again": "x" * 12})
        assert page.status_code == 404 and b"no longer works" in page.content
    assert not User.objects.filter(username="late").exists()


def test_revoking_an_invite(people) -> None:
    issued = invites.issue(people["owner"], "ada", role="member")
    reply = as_user(people["admin"]).post(f"/users/invites/{issued.invite.pk}/revoke/")
    assert reply.status_code == 302
    assert Client().get(f"/invite/{issued.token}/").status_code == 404


def test_sso_users_are_explained_and_marked(people, monkeypatch) -> None:
    from gateway.models import SsoLink

    monkeypatch.setenv("SWITCHYARD_OIDC_ISSUER", "https://idp.example.com")
    monkeypatch.setenv("SWITCHYARD_OIDC_CLIENT_ID", "console")
    sso.forget()
    try:
        SsoLink.objects.create(
            issuer="https://idp.example.com", subject="s1", user=people["member"]
        )
        page = as_user(people["owner"]).get("/users/").content.decode()
    finally:
        sso.forget()
    assert "appear here on their first sign-in" in page and "Sign in with idp.example.com" in page
    row = page.split(f'id="user-{people["member"].pk}"')[1].split("</tr>")[0]
    assert 'title="signs in through single sign-on">SSO</span>' in row


def test_the_users_page_shows_role_teams_keys_limits_and_spend(people) -> None:
    red = Team.objects.create(name="red")
    roles.assign_membership(people["member"], red, "member")
    minted = keys.create_key(name="m-key", user=people["member"], team=red)
    Profile.objects.filter(user=people["member"]).update(
        budget_usd=Decimal("10"), budget_period="total", rpm_limit=30
    )
    journal.write_batch(  # the log and its spend rollup, which the page reads
        [
            journal.Record(
                request_id="r1",
                key_id=minted.key.pk,
                key_name="m-key",
                dialect="openai",
                endpoint="chat",
                status=200,
                cost_usd=Decimal("2.5"),
            )
        ]
    )
    page = as_user(people["admin"]).get(f"/users/{people['member'].pk}/").content.decode()
    assert "m-key" in page and ">red</a>" in page and "role <strong>member</strong>" in page
    assert "$2.50" in page and "$7.50 left" in page and "30" in page
    assert "Spent <strong>$2.50</strong> of $10.00 in total" in page
    assert "Deactivate" not in page  # admins do not deactivate
    owner_page = as_user(people["owner"]).get(f"/users/{people['member'].pk}/").content.decode()
    assert "Deactivate" in owner_page
    assert "Their request logs, spend and audit rows are kept" in owner_page
    saved = as_user(people["admin"]).post(
        f"/users/{people['member'].pk}/limits/",
        {"rpm_limit": "10", "budget_usd": "", "budget_period": "month", "back": "detail"},
    )
    assert saved["Location"] == f"/users/{people['member'].pk}/#limits"


def test_an_owner_deactivates_and_removes_from_the_users_page(people) -> None:
    owner = as_user(people["owner"])
    member = people["member"]
    minted = keys.create_key(name="m", user=member)
    assert (
        as_user(people["admin"]).post(f"/users/{member.pk}/active/", {"active": "0"}).status_code
        == 403
    )
    reply = owner.post(f"/users/{member.pk}/active/", {"active": "0"})
    assert reply.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    assert b"refused (user deactivated)" in owner.get(f"/users/{member.pk}/").content
    self_ = owner.post(f"/users/{people['owner'].pk}/active/", {"active": "0"})
    assert self_.status_code == 403 and b"yourself" in self_.content
    wrong = owner.post(f"/users/{member.pk}/remove/", {"confirm": "nope"})
    assert wrong.status_code == 302 and User.objects.filter(pk=member.pk).exists()
    gone = owner.post(f"/users/{member.pk}/remove/", {"confirm": "member"})
    assert gone.status_code == 302 and gone["Location"] == "/users/"
    assert not User.objects.filter(pk=member.pk).exists()
    assert ApiKey.objects.get(pk=minted.key.pk).revoked_at is not None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"user_deactivate", "user_remove"} <= actions


def test_a_members_key_form_offers_only_what_the_role_may_set(people) -> None:
    red, blue = Team.objects.create(name="red"), Team.objects.create(name="blue")
    roles.assign_membership(people["member"], red, "member")
    open_route = Route.objects.create(name="open")
    reds = Route.objects.create(name="reds-only")
    reds.teams.set([red])
    blues = Route.objects.create(name="blues-only")
    blues.teams.set([blue])
    form = KeyForm(actor=roles.actor_for_user(people["member"]))
    assert [c[1] for c in form.fields["team"].choices] == ["red"]  # no "no team"
    assert {r.name for r in form.fields["routes"].queryset} == {open_route.name, reds.name}
    assert [c[1] for c in form.fields["user"].choices] == ["member"]
    assert "management" not in form.fields
    assert form.fields["budget_usd"].help_text == "empty: the team's"
    page = as_user(people["member"]).get("/keys/").content.decode()
    assert (
        "blues-only" not in page
        and "---------" not in page.split('id="id_team"')[1].split("</select>")[0]
    )
    admin_form = KeyForm(actor=roles.actor_for_user(people["admin"]))
    assert "management" in admin_form.fields
    assert [c[1] for c in admin_form.fields["team"].choices][0] == "---------"


def test_an_invite_is_emailed_after_the_answer_however_slow_the_smtp_server(
    people, stalled_smtp, django_capture_on_commit_callbacks, settings, caplog
) -> None:
    admin = as_user(people["admin"])
    form = {"username": "bea", "role": "member", "how": "link", "expires_in_days": 3}
    with django_capture_on_commit_callbacks(execute=True):
        reply = admin.post("/users/invite/", {**form, "email": "bea@example.com"})
    assert reply.status_code == 200 and not stalled_smtp.received.is_set()
    html = reply.content.decode()
    link = link_in(html)
    assert "Sending it to <strong>bea@example.com</strong>" in html
    stalled_smtp.release.set()
    mail.sent()
    (sent,) = stalled_smtp.messages
    assert "To: bea@example.com" in sent and link in sent and "admin" in sent

    # without an address nothing is sent; an SMTP server that refuses is logged without
    # the link, and the page had the link to copy
    with django_capture_on_commit_callbacks(execute=True) as queued:
        reply = admin.post("/users/invite/", {**form, "username": "cy"})
    assert "Sending" not in reply.content.decode() and queued == []
    settings.EMAIL_BACKEND = "tests.gateway.features.alerts.test_email.Broken"
    with django_capture_on_commit_callbacks(execute=True):
        reply = admin.post("/users/invite/", {**form, "username": "di", "email": "di@x.test"})
    link = link_in(reply.content.decode())
    mail.sent()
    di = Invite.objects.get(username="di")
    assert f"the email of invite {di.pk} was not sent: 127.0.0.1: ConnectionRefused" in caplog.text
    assert link not in caplog.text


def test_without_email_set_up_the_form_says_the_link_is_to_copy(people, settings) -> None:
    settings.SWITCHYARD_ALERT_EMAIL = False
    page = as_user(people["admin"]).get("/users/").content.decode()
    assert "the link is shown to copy and hand over" in page
