"""A2A agents in the console: the list (each agent's path on the gateway, its card's
skills and interfaces, recent calls), add and edit, refresh the card, delete. All
through ``save``; the pages are declared in ``pages.py``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from gateway.base import hooks
from gateway.base.entries import OAuthTarget, same_named
from gateway.features.a2a import save, security, snapshot, wire
from gateway.features.a2a.forms import AgentForm
from gateway.models import A2aAgent, RequestLog
from gateway.telemetry import agent_runs
from gateway.web.decorators import (
    acting_on,
    fields_refused,
    form_values,
    staff_required,
)
from gateway.web.http import HtmxHttpRequest, deleted, go_to
from gateway.web.saving import show_errors

RECENT_CALLS = 20
RECENT_RUNS = 20


@staff_required
def agent_list(request: HtmxHttpRequest) -> HttpResponse:
    agents = list(A2aAgent.objects.all())
    for agent in agents:
        card = agent.card if isinstance(agent.card, dict) else {}
        agent.skills = [s.get("name", "") for s in card.get("skills") or () if isinstance(s, dict)]
        agent.bindings = wire.bindings(card)
    calls = RequestLog.objects.filter(dialect="a2a").order_by("-created_at", "-id")[:RECENT_CALLS]
    template = "a2a/agents.html#recent-calls" if request.htmx else "a2a/agents.html"
    return render(request, template, {"agents": agents, "calls": calls})


FORM_FIELDS = tuple(AgentForm.base_fields)


def _suggested(initial: dict[str, Any], found: security.CardAuth) -> dict[str, Any]:
    """``initial`` with the auth the card asks for (its kind; an OAuth scheme's issuer
    and scopes where the person left them empty)."""
    if found.refused:
        return initial
    initial = {**initial, "auth": found.kind}
    if found.kind == "oauth":
        initial["oauth_issuer"] = initial.get("oauth_issuer") or found.issuer
        initial["oauth_scopes"] = initial.get("oauth_scopes") or found.scopes
    return initial


def _discover(request: HtmxHttpRequest, agent: A2aAgent | None) -> HttpResponse:
    """ "Read the card": the card at the URL typed, fetched as a save would, its
    ``securitySchemes`` read into the form (the auth kind, an OAuth scheme's issuer and
    scopes) and shown; nothing is saved."""
    typed = {k: v for k, v in request.POST.items() if k in FORM_FIELDS and k != "bearer"}
    url = str(typed.get("url", "")).strip()
    if agent is not None and url == agent.url_display:
        url = agent.url
    found, error = None, ""
    try:
        found = security.read(async_to_sync(save.fetch_card)(url))
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    form = AgentForm(initial=_suggested(typed, found) if found is not None else typed)
    template = "a2a/agent_form.html" + ("#a2a-form" if request.htmx else "")
    context = {"form": form, "agent": agent, "card_auth": found, "card_error": error}
    return render(request, template, context)


def _edit(request: HtmxHttpRequest, agent: A2aAgent | None) -> HttpResponse:
    if request.method == "POST" and request.POST.get("discover"):
        return _discover(request, agent)
    if request.method == "POST":
        form = AgentForm(request.POST)
        if form.is_valid() and (
            refused := fields_refused(request, "a2a_agents", form_values(form), agent)
        ):
            return refused
        if form.is_valid():
            values, bearer = form.values(), form.bearer_change()
            try:
                save.check_references(agent, values, bearer)
                save.save_agent(agent, values, bearer=bearer)
            except ValidationError as exc:
                show_errors(form, exc)
            else:
                return go_to(request, reverse("console:a2a"))
    else:
        initial: dict[str, Any] | None = None
        if agent is not None:
            initial = {
                "name": agent.name,
                "description": agent.description,
                "url": agent.url_display,
                **same_named(agent, "auth price_usd run_budget_usd session_budget_usd"),
                **same_named(agent, "act_as_caller timeout enabled oauth_issuer oauth_client_id"),
                **same_named(agent, "oauth_client_secret_ref oauth_scopes"),
            }
        card_auth = security.read(agent.card if agent and isinstance(agent.card, dict) else {})
        if agent is not None and not agent.auth and card_auth.kind:  # the card asks for one
            initial = _suggested(initial or {}, card_auth)
        form = AgentForm(initial=initial)
    template = "a2a/agent_form.html" + ("#a2a-form" if request.htmx else "")
    runs: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    if agent is not None and not request.htmx:  # its latest runs and sessions, and spend
        runs = agent_runs.query(filters={"agent": agent.name}, limit=RECENT_RUNS)
        sessions = agent_runs.sessions(filters={"agent": agent.name}, limit=RECENT_RUNS)
    context: dict[str, Any] = {"form": form, "agent": agent, "runs": runs, "sessions": sessions}
    if agent is not None and isinstance(agent.card, dict):
        context["card_auth"] = security.read(agent.card)
    shared = _shared()
    if agent is not None and agent.auth == A2aAgent.Auth.OAUTH and shared is not None:
        context["connected"] = agent.pk in shared.connected("agent", request.user.pk)
    return render(request, template, context)


@staff_required
def agent_create(request: HtmxHttpRequest) -> HttpResponse:
    return _edit(request, None)


@staff_required
def agent_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(A2aAgent, pk=pk))


@staff_required
@require_POST
def agent_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    save.delete_agent(get_object_or_404(A2aAgent, pk=pk))
    return deleted(request, reverse("console:a2a"))


@staff_required
@require_POST
def agent_refresh(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    agent = get_object_or_404(A2aAgent, pk=pk)
    try:
        save.refresh_card(agent)
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=422)
    return go_to(request, reverse("console:a2a"))


# --- each person's own OAuth connection to agents with auth "oauth" ------------------------
# (the MCP unit's machinery, through hooks.upstream_oauth; the authorization server comes
# back to the console's one OAuth callback, which sends the browser here)

CONNECTIONS = "a2a/connections.html"


def _shared() -> hooks.UpstreamOAuth | None:
    return next(iter(hooks.upstream_oauth), None)


def _oauth_agent(pk: int) -> A2aAgent:
    """An enabled agent that takes each person's OAuth, where per-person OAuth is
    available; any other: 404, as on the list."""
    agent: A2aAgent = get_object_or_404(A2aAgent, pk=pk, auth=A2aAgent.Auth.OAUTH, enabled=True)
    _shared_oauth()
    return agent


def _shared_oauth() -> hooks.UpstreamOAuth:
    shared = _shared()
    if shared is None:
        raise Http404("per-person OAuth is not available")
    return shared


def _oauth_of(agent: A2aAgent) -> tuple[OAuthTarget, hooks.UpstreamOAuth]:
    """The agent's OAuth as the shared machinery reads it (from its row: a change just
    saved counts at once), and that machinery."""
    return snapshot.entry_of(agent).oauth_target(), _shared_oauth()


def _connections(request: HtmxHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    agents = list(A2aAgent.objects.filter(auth=A2aAgent.Auth.OAUTH, enabled=True))
    shared = _shared()
    connected = shared.connected("agent", request.user.pk) if shared is not None else {}
    for agent in agents:
        agent.connected = agent.pk in connected
        agent.expires_at = connected.get(agent.pk)
    template = CONNECTIONS + "#connections" if request.htmx else CONNECTIONS
    return render(request, template, {"agents": agents, **extra}, status=status)


@staff_required
@require_safe
def connections(request: HtmxHttpRequest) -> HttpResponse:
    connected = request.GET.get("connected", "")
    message = f"Connected to {connected[:63]}." if connected else ""
    return _connections(request, message=message)


@staff_required
@require_POST
@acting_on(_oauth_agent, "a2a.oauth.connect")
def connect(request: HtmxHttpRequest, agent: A2aAgent) -> HttpResponse:
    target, shared = _oauth_of(agent)
    try:
        location = async_to_sync(shared.connect)(
            target, request.user.pk, shared.redirect_uri(request)
        )
    except ValueError as exc:
        return _connections(request, status=502, error=str(exc))
    if request.htmx:  # a navigation, not a form's redirect (the CSP's form-action 'self')
        return HttpResponseClientRedirect(location)
    return _connections(request, continue_to=location, continue_host=urlsplit(location).hostname)


@staff_required
@require_POST
@acting_on(_oauth_agent, "a2a.oauth.connect")
def disconnect(request: HtmxHttpRequest, agent: A2aAgent) -> HttpResponse:
    target, shared = _oauth_of(agent)
    revoked = async_to_sync(shared.disconnect)(target, request.user.pk)
    note = "your tokens were revoked" if revoked else "your tokens were deleted"
    return _connections(request, message=f"Disconnected from {agent.name}: {note}.")
