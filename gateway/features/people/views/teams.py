"""Teams and users: teams with their limits (counted like a key's by every key of the
team) and members; users with their role. The policy is gateway/access/roles.py; every
change goes through the same functions as the API (``gateway.features.people.api.teams.save_team``,
``roles.set_role``, ``roles.assign_membership``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, ProtectedError, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from gateway.access import authorization, roles
from gateway.access import keys as key_ops
from gateway.access.alert_thresholds import shown as thresholds_shown
from gateway.features.people.save import save_team
from gateway.models import ApiKey, Membership, Team, UsageRollup
from gateway.telemetry import budget_spend, rollups
from gateway.web.decorators import actor_of, fields_refused, forbidden, form_values, staff_required
from gateway.web.fields import CommaList, PlainDecimalField, guardrail_field, with_guardrail_choices
from gateway.web.http import HtmxHttpRequest, go_to
from gateway.web.saving import show_errors

USAGE_DAYS = 30
TEAM_ROLES = [(r, r) for r in (roles.EDITOR, roles.MEMBER, roles.VIEWER)]


# a team's bounds on what its keys may use: what the box limits, the key's own rules
# that apply without it, the list's label, what the list names
BOUNDS = {
    "mcp": ("MCP access", "MCP permissions", "MCP servers and tools the team's keys may use at most", "server, server__tool or *"),
    "a2a": ("A2A agents", "agent grants", "A2A agents the team's keys may call at most", "agent names or *"),
}  # fmt: skip


def _team_bound(unit: str) -> tuple[forms.Field, CommaList]:
    """A team's bound on what its keys may use (``BOUNDS``): the box that sets it and the
    list; a key keeps only what is in its own list and here."""
    what, own, label, names = BOUNDS[unit]
    box = forms.BooleanField(
        required=False,
        label=f"Limit the team's {what}",
        help_text=f"off: each key's own {own} apply as they are",
    )
    help_text = f"{names}, comma separated; a key keeps only what is in its own list and here"
    return box, CommaList(required=False, label=label, help_text=f"{help_text} (empty: none)")


class TeamForm(forms.Form):
    name = forms.SlugField(
        max_length=100, help_text="letters, digits, - and _ (no spaces): it names the team in /api"
    )
    description = forms.CharField(max_length=500, required=False)
    rpm_limit = forms.IntegerField(required=False, min_value=0, label="Requests / min")
    tpm_limit = forms.IntegerField(required=False, min_value=0, label="Tokens / min")
    budget_usd = PlainDecimalField(required=False, min_value=0, label="Budget (USD)")
    budget_period = forms.ChoiceField(choices=ApiKey.Period.choices, initial="month")
    alert_thresholds = forms.CharField(
        required=False,
        max_length=100,
        label="Budget alerts at (%)",
        help_text="e.g. 50, 80, 100; empty: the default thresholds; none: no alerts",
    )
    mcp_restricted, mcp_allowed = _team_bound("mcp")
    a2a_restricted, a2a_allowed = _team_bound("a2a")

    guardrails = guardrail_field(
        "checked on every request of the team's keys, beside the ones on by default"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with_guardrail_choices(self)

    @classmethod
    def initial_of(cls, team: Team) -> dict[str, Any]:
        initial = {f: getattr(team, f) for f in cls.base_fields if hasattr(team, f)}
        initial["mcp_restricted"] = team.mcp_allowed is not None
        initial["mcp_allowed"] = list(team.mcp_allowed or [])
        initial["a2a_restricted"] = team.a2a_allowed is not None
        initial["a2a_allowed"] = list(team.a2a_allowed or [])
        initial["guardrails"] = list(team.guardrails or [])
        initial["alert_thresholds"] = thresholds_shown(team.alert_thresholds)
        return initial


class MemberForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"), to_field_name="username"
    )
    role = forms.ChoiceField(choices=TEAM_ROLES, initial=roles.MEMBER)


def _spend(teams: list[Team]) -> None:
    """Each team's requests and spend over the last USAGE_DAYS (its keys' hourly rollups)."""
    keys = dict(ApiKey.objects.filter(team__in=teams).values_list("pk", "team_id"))
    since = rollups.hour_of(timezone.now() - timedelta(days=USAGE_DAYS))
    rows = UsageRollup.objects.filter(key_id__in=list(keys), hour__gte=since).order_by()
    usage = rows.values("key_id").annotate(requests=Sum("requests"), cost=Sum("cost_usd"))
    for team in teams:
        team.usage = {"requests": 0, "cost": 0}
    by_id = {t.pk: t for t in teams}
    for row in usage:
        owner = by_id.get(keys.get(row["key_id"]))
        if owner is not None:
            owner.usage["requests"] += row["requests"] or 0
            owner.usage["cost"] += row["cost"] or 0


@staff_required
def team_list(request: HtmxHttpRequest) -> HttpResponse:
    actor = actor_of(request)
    teams = list(
        roles.visible_teams(actor, Team.objects.all()).annotate(
            key_count=Count("keys", distinct=True), member_count=Count("memberships", distinct=True)
        )
    )
    _spend(teams)
    ledger = budget_spend.Ledger()
    for team in teams:
        team.standing = ledger.standing("team", team.pk, team.budget_usd, team.budget_period)
    context = {
        "teams": teams,
        "form": TeamForm(),
        "can_edit": actor.can("teams.edit"),
        "usage_days": USAGE_DAYS,
    }
    return render(request, "people/teams.html", context)


def _save(form: TeamForm, team: Team | None) -> Team | None:
    if not form.is_valid():
        return None
    fields = dict(form.cleaned_data)
    if not fields.pop("mcp_restricted"):
        fields["mcp_allowed"] = None
    if not fields.pop("a2a_restricted"):
        fields["a2a_allowed"] = None
    try:
        return save_team(team, fields)
    except ValidationError as exc:
        show_errors(form, exc)
        return None


@staff_required
@require_POST
def team_create(request: HtmxHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if form.is_valid() and (refused := fields_refused(request, "teams", form_values(form))):
        return refused
    team = _save(form, None)
    if team is not None:
        messages.success(request, f"Created team {team.name}. Add its members below.")
        return go_to(request, reverse("console:team-edit", args=[team.pk]))
    return render(
        request,
        "people/teams.html",
        {"teams": [], "form": form, "can_edit": True, "usage_days": USAGE_DAYS},
        status=422,
    )


@staff_required
def team_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    team = get_object_or_404(roles.visible_teams(actor, Team.objects.all()), pk=pk)
    form = TeamForm(initial=TeamForm.initial_of(team))
    member_form = MemberForm()
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "save":
            form = TeamForm(request.POST)
            if form.is_valid() and (
                refused := fields_refused(request, "teams", form_values(form), team)
            ):
                return refused
            if _save(form, team) is not None:
                messages.success(request, f"Saved team {team.name}.")
                return go_to(request, reverse("console:team-edit", args=[pk]))
        elif action == "add-member":
            member_form = MemberForm(request.POST)
            if member_form.is_valid():
                data = member_form.cleaned_data
                if refused := fields_refused(request, "team_members", form_values(member_form)):
                    return refused
                roles.assign_membership(data["user"], team, data["role"])
                messages.success(request, f"{data['user'].get_username()} is in {team.name}.")
                return go_to(request, reverse("console:team-edit", args=[pk]))
        elif action == "remove-member":
            Membership.objects.filter(team=team, pk=request.POST.get("membership")).delete()
            return go_to(request, reverse("console:team-edit", args=[pk]))
        elif action == "delete":
            try:
                team.delete()
            except ProtectedError:
                messages.error(request, f"{team.name} still has keys: move or revoke them first.")
                return go_to(request, reverse("console:team-edit", args=[pk]))
            messages.success(request, f"Deleted team {team.name}.")
            return go_to(request, reverse("console:teams"))
    context = {
        "team": team,
        "form": form,
        "member_form": member_form,
        "members": team.memberships.select_related("user"),
        "keys": roles.visible_keys(actor, team.keys.all()),
        "routes": team.routes.all(),
        "can_edit": actor.can("teams.edit"),
        "standing": budget_spend.Ledger().standing(
            "team", team.pk, team.budget_usd, team.budget_period
        ),
    }
    return render(request, "people/team_form.html", context)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r, r) for r in roles.ROLES])


@staff_required
@require_POST
def user_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk)
    form = RoleForm(request.POST)
    if form.is_valid() and (
        refused := fields_refused(
            request, "users", form_values(form), stored={"role": roles.role_of(user)}
        )
    ):
        return refused
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
    elif form.cleaned_data["role"] != roles.OWNER and roles.is_last_owner(user):
        return forbidden(request, "This is the last owner: make someone else an owner first.")
    else:
        roles.set_role(user, form.cleaned_data["role"])
        messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role']}.")
    return go_to(request, reverse("console:users") + f"#user-{pk}")


class UserLimitsForm(forms.Form):
    rpm_limit = forms.IntegerField(required=False, min_value=1, label="Requests / min")
    tpm_limit = forms.IntegerField(required=False, min_value=1, label="Tokens / min")
    budget_usd = PlainDecimalField(required=False, min_value=0, label="Budget (USD)")
    budget_period = forms.ChoiceField(choices=ApiKey.Period.choices, initial="month")
    alert_thresholds = forms.CharField(required=False, max_length=100)


@staff_required
@require_POST
def user_limits(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A user's own limits, counted across every key they own (owners; admins for users
    below owner: rule user.limit, as /api/user-limits)."""
    user = get_object_or_404(get_user_model(), pk=pk)
    decision = authorization.decide(actor_of(request), "user.limit", user)
    if not decision:
        return forbidden(request, decision.reason)
    form = UserLimitsForm(request.POST)
    if form.is_valid() and (
        refused := fields_refused(
            request, "user_limits", form_values(form), getattr(user, "switchyard", None)
        )
    ):
        return refused
    if not form.is_valid():
        messages.error(request, "Limits must be positive numbers (empty: none).")
    else:
        try:
            key_ops.save_user_limits(user, form.cleaned_data)
        except ValidationError as exc:
            messages.error(
                request, "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())
            )
        else:
            messages.success(request, f"Saved {user.get_username()}'s limits.")
    if request.POST.get("back") == "detail":  # the form on the user's own page
        return go_to(request, reverse("console:user-detail", args=[pk]) + "#limits")
    return go_to(request, reverse("console:users") + f"#user-{pk}")
