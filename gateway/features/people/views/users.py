"""People: invite a teammate (a one-time link, or an account with a password now), a
user's own page (role, teams, keys, own limits and what they spent), deactivate,
reactivate and remove. Every change goes through ``gateway.features.people.save`` and
``gateway.features.people.invites`` like ``/api/users`` and ``/api/invites``, and asks the same
rules (``user.invite``, ``user.manage``, ``user.limit``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateway.access import authorization, roles, sso
from gateway.access import keys as key_ops
from gateway.base import mail
from gateway.features.people import invites, save
from gateway.features.people.rules import InviteGrant
from gateway.features.people.views.teams import UserLimitsForm
from gateway.models import ApiKey, Invite, Team
from gateway.telemetry import budget_spend
from gateway.web.decorators import (
    acting_on,
    actor_of,
    fields_refused,
    forbidden,
    form_values,
    rule_refused,
    staff_required,
)
from gateway.web.http import HtmxHttpRequest, go_to
from gateway.web.saving import show_errors

DAYS = [(1, "1 day"), (3, "3 days"), (7, "7 days"), (14, "14 days"), (30, "30 days")]


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[(r, r) for r in roles.ROLES], initial=roles.MEMBER)
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="they join each with their role there (owners and admins: editor)",
    )
    how = forms.ChoiceField(
        choices=[("link", "A one-time link"), ("password", "Set a password now")],
        initial="link",
        widget=forms.RadioSelect,
        label="How they sign in",
    )
    expires_in_days = forms.TypedChoiceField(
        choices=DAYS, coerce=int, initial=invites.DEFAULT_DAYS, label="Link expires after"
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="only with “Set a password now”; hand it over yourself",
    )

    def __init__(self, *args: Any, actor: roles.Actor | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if actor is not None and actor.role != roles.OWNER:  # an admin invites no owner
            role_field: Any = self.fields["role"]
            role_field.choices = [(r, r) for r in roles.ROLES if r != roles.OWNER]
        self.fields["how"].help_text = (
            "the link is emailed to them when you give an email, and shown to copy"
            if mail.configured()
            else "the link is shown to copy and hand over (email needs the operator's "
            "SWITCHYARD_EMAIL_HOST)"
        )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        if data.get("how") == "password" and not data.get("password"):
            self.add_error("password", "Enter the password, or send a link instead.")
        return data


def people_context(request: HtmxHttpRequest, **extra: Any) -> dict[str, Any]:
    """What the invite card on the users page shows."""
    actor = actor_of(request)
    may_invite = actor.can("users.invite")
    cfg, _ = sso.config_or_error()
    return {
        "may_invite": may_invite,
        "invite_form": extra.pop("invite_form", None) or InviteForm(actor=actor),
        "pending_invites": invites.pending() if may_invite else [],
        "sso": cfg,
        "sso_only": sso.sso_only(),
        "is_owner": actor.role == roles.OWNER,
        **extra,
    }


def users_context(request: HtmxHttpRequest) -> dict[str, Any]:
    """The users table (shared by the list and the invite form's full-page answer)."""
    users = list(
        get_user_model()
        .objects.order_by("username")
        .select_related("switchyard")
        .prefetch_related("memberships__team", "ssolink_set")
    )
    actor = actor_of(request)
    for user in users:
        user.role = roles.role_of_any(user)
        user.limits = key_ops.user_limits(user)
        user.can_limit = bool(authorization.decide(actor, "user.limit", user))
    return {
        "users": users,
        "roles": roles.ROLES,
        "periods": ApiKey.Period.choices,
        "can_edit": actor.can("users.edit"),
    }


@staff_required
def user_list(request: HtmxHttpRequest) -> HttpResponse:
    context = {**users_context(request), **people_context(request)}
    return render(request, "people/users.html", context)


def _render_invites(request: HtmxHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    context = people_context(request, **extra)
    if request.htmx:
        return render(request, "people/users.html#invite-card", context, status=status)
    return render(
        request, "people/users.html", {**users_context(request), **context}, status=status
    )


@staff_required
@require_POST
def user_invite(request: HtmxHttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = InviteForm(request.POST, actor=actor)
    if not form.is_valid():
        return _render_invites(request, 422, invite_form=form)
    data = form.cleaned_data
    if refused := fields_refused(request, "invites", form_values(form)):
        return refused
    teams = list(data["teams"])
    grant = InviteGrant(data["role"], frozenset(t.pk for t in teams))
    if refused := rule_refused(request, "user.invite", grant):
        return refused
    try:
        if data["how"] == "password":
            user = save.create_user(
                data["username"],
                email=data["email"],
                role=data["role"],
                teams=teams,
                password=data["password"],
            )
            return _render_invites(request, created_user=user)
        issued = invites.issue(
            request.user,
            data["username"],
            email=data["email"],
            role=data["role"],
            teams=teams,
            days=data["expires_in_days"],
        )
    except ValidationError as exc:
        show_errors(form, exc)
        return _render_invites(request, 422, invite_form=form)
    link = request.build_absolute_uri(reverse("console:invite-accept", args=[issued.token]))
    emailing = invites.email_link(issued.invite, link, request.user.get_username())
    return _render_invites(request, issued=issued.invite, invite_link=link, emailing=emailing)


@staff_required
@require_POST
def invite_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    invite = get_object_or_404(Invite, pk=pk)
    grant = InviteGrant(invite.role, frozenset(t.pk for t in invite.teams.all()))
    if refused := rule_refused(request, "user.invite", grant):
        return refused
    invites.revoke(invite)
    messages.success(request, f"The invite of {invite.username} no longer works.")
    return go_to(request, reverse("console:users") + "#invites")


@staff_required
def user_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    user = get_object_or_404(get_user_model().objects.select_related("switchyard"), pk=pk)
    limits = key_ops.user_limits(user)
    ledger = budget_spend.Ledger()  # the spend rollups of the period, not the request log
    spent = ledger.user(user.pk, limits["budget_period"])
    context = {
        "person": user,
        "role": roles.role_of_any(user),
        "memberships": user.memberships.select_related("team"),
        "keys": ApiKey.objects.filter(user=user).select_related("team"),
        "limits": limits,
        "spent": spent,
        "budget_left": (
            max(limits["budget_usd"] - spent, Decimal("0"))
            if limits["budget_usd"] is not None
            else None
        ),
        "standing": ledger.standing("user", user.pk, limits["budget_usd"], limits["budget_period"]),
        "limits_form": UserLimitsForm(initial=limits),
        "can_limit": bool(authorization.decide(actor, "user.limit", user)),
        "can_manage": bool(authorization.decide(actor, "user.manage", user))
        and actor.user_id != user.pk,
        "is_last_owner": roles.is_last_owner(user),
        "sso_linked": user.ssolink_set.exists(),
    }
    return render(request, "people/user_detail.html", context)


def _user(pk: int) -> Any:
    """A person of the user list (any other: 404)."""
    return get_object_or_404(get_user_model(), pk=pk)


@staff_required
@require_POST
@acting_on(_user, "user.manage")
def user_active(request: HtmxHttpRequest, user: Any) -> HttpResponse:
    actor = actor_of(request)
    active = request.POST.get("active") == "1"
    try:
        save.set_active(actor, user, active)
    except ValidationError as exc:
        return forbidden(request, " ".join(exc.messages))
    if active:
        messages.success(request, f"{user.get_username()} may sign in again; their keys work.")
    else:
        messages.success(
            request, f"Deactivated {user.get_username()}: signed out, and their keys refused."
        )
    return go_to(request, reverse("console:user-detail", args=[user.pk]))


@staff_required
@require_POST
@acting_on(_user, "user.manage")
def user_remove(request: HtmxHttpRequest, user: Any) -> HttpResponse:
    actor = actor_of(request)
    name = user.get_username()
    if request.POST.get("confirm", "") != name:
        messages.error(request, f"Type {name} to confirm the removal.")
        return go_to(request, reverse("console:user-detail", args=[user.pk]) + "#remove")
    try:
        revoked = save.remove(actor, user)
    except ValidationError as exc:
        return forbidden(request, " ".join(exc.messages))
    messages.success(
        request, f"Removed {name}: {revoked} key(s) revoked; their logs and spend are kept."
    )
    return go_to(request, reverse("console:users"))
