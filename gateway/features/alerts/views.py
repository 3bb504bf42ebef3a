"""Budget alerts (``gateway.features.alerts``): the webhook, the email recipients and default
thresholds (owners change them), the keys, teams and users with a budget and the thresholds each gets, the
alerts raised with their delivery state (status, attempts, last error, next attempt),
a button that sends a test message now and one that sends a failed alert again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateway.access.alert_thresholds import shown as thresholds_shown
from gateway.features.alerts import config, delivery, email
from gateway.models import ApiKey, Profile, Team
from gateway.models.alerts import BudgetAlert
from gateway.telemetry import budget_spend
from gateway.web.decorators import actor_of, fields_refused, form_values, staff_required
from gateway.web.fields import SecretField
from gateway.web.http import HtmxHttpRequest, go_to
from gateway.web.saving import saved

TEMPLATE = "alerts/alerts.html"
HISTORY_ROWS = 100
STATUSES = [("", "Any status"), *BudgetAlert.Status.choices]


class AlertSettingsForm(forms.Form):
    enabled = forms.BooleanField(
        required=False, label="Raise budget alerts", help_text="off: nothing is raised or sent"
    )
    webhook_url = SecretField(
        max_length=2000,
        label="Webhook URL",
        autocomplete="off",
        help_text="Slack-compatible (a JSON body with text); empty: keep the one set",
    )
    clear_webhook = forms.BooleanField(required=False, label="Remove the webhook")
    email_recipients = forms.CharField(
        required=False,
        max_length=2000,
        label="Email alerts to",
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        help_text="addresses, comma separated; sent through the operator's SMTP server "
        "(SWITCHYARD_EMAIL_HOST); empty: no emails",
    )
    default_thresholds = forms.CharField(
        max_length=100,
        label="Default thresholds (%)",
        help_text="for every key, team and user without their own, e.g. 50, 80, 100",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:  # a refused URL stays in its field (what this owner just typed)
            webhook: Any = self.fields["webhook_url"].widget
            webhook.render_value = True


def _budgeted(defaults: list[int]) -> list[dict[str, Any]]:
    """Every key, team and user with a budget, the thresholds it gets and what it spent
    of it this period (the spend rollups, as the alerts read them)."""
    rows: list[dict[str, Any]] = []
    ledger = budget_spend.Ledger()

    def add(scope: str, pk: int, name: str, budget: Any, period: str, own: Any, link: str) -> None:
        rows.append(
            {
                "scope": scope,
                "name": name,
                "budget": budget,
                "period": period,
                "thresholds": own if own is not None else defaults,
                "own": own is not None,
                "link": link,
                "standing": ledger.standing(scope, pk, budget, period),
            }
        )

    keys = ApiKey.objects.filter(budget_usd__gt=0, revoked_at__isnull=True).order_by("name")
    for key in keys[:200]:
        link = reverse("console:keys") + f"#key-{key.pk}"
        add("key", key.pk, key.name, key.budget_usd, key.budget_period, key.alert_thresholds, link)
    for team in Team.objects.filter(budget_usd__gt=0)[:200]:
        link = reverse("console:team-edit", args=[team.pk])
        own = team.alert_thresholds
        add("team", team.pk, team.name, team.budget_usd, team.budget_period, own, link)
    profiles = Profile.objects.filter(budget_usd__gt=0).select_related("user")[:200]
    for profile in profiles:
        link = reverse("console:user-detail", args=[profile.user_id])
        add(
            "user",
            profile.user_id,
            profile.user.get_username(),
            profile.budget_usd,
            profile.budget_period,
            profile.alert_thresholds,
            link,
        )
    return rows


def _context(request: HtmxHttpRequest, form: AlertSettingsForm | None = None) -> dict[str, Any]:
    settings = config.load()
    status = request.GET.get("status", "")
    history = BudgetAlert.objects.all()
    if status in BudgetAlert.Status.values:
        history = history.filter(status=status)
    if form is None:
        form = AlertSettingsForm(
            initial={
                "enabled": settings.enabled,
                "default_thresholds": thresholds_shown(settings.default_thresholds),
                "email_recipients": ", ".join(settings.email_recipients),
            }
        )
    failing = BudgetAlert.objects.filter(
        Q(status="failed") | Q(status="pending", attempts__gt=0)
    ).count()
    return {
        "settings": settings,
        "form": form,
        "can_edit": actor_of(request).can("settings.edit"),
        "budgeted": _budgeted(settings.default_thresholds),
        "history": list(history[:HISTORY_ROWS]),
        "status": status,
        "statuses": STATUSES,
        "failing": failing,
        "every": f"{django_settings.SWITCHYARD_ALERT_EVERY_SECONDS:g}",
        "email_configured": email.configured(),
    }


@staff_required
def alerts_page(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the page. POST (owners): save the settings."""
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    form = AlertSettingsForm(request.POST)
    if form.is_valid() and (refused := fields_refused(request, "alerts", form_values(form))):
        return refused
    if form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {
            "enabled": data["enabled"],
            "thresholds": data["default_thresholds"],
            "email_recipients": data["email_recipients"],
        }
        if data["clear_webhook"]:
            changes["webhook_url"] = ""
        elif data["webhook_url"]:
            changes["webhook_url"] = data["webhook_url"]
        done = saved(
            request,
            form,
            lambda: config.save(**changes),
            "Saved the alert settings.",
            reverse("console:alerts"),
        )
        if done is not None:
            return done
    return render(request, TEMPLATE, _context(request, form), status=422)


@staff_required
@require_POST
def alerts_test(request: HtmxHttpRequest) -> HttpResponse:
    """Send a test message to the webhook and the email recipients now and say how it
    went."""
    error = delivery.test_now()
    if error:
        messages.error(request, f"The test message did not arrive: {error}.")
    else:
        messages.success(request, "The test message arrived.")
    return go_to(request, reverse("console:alerts"))


@staff_required
@require_POST
def alert_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Send a failed or unsent alert again at the next round."""
    if delivery.retry(pk):
        messages.success(request, "The alert is sent again at the next round.")
    else:
        messages.error(request, "Only a failed or unsent alert can be sent again.")
    return go_to(request, reverse("console:alerts") + "#history")
