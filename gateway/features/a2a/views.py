"""A2A agents in the console: the list (each agent's path on the gateway, its card's
skills and interfaces, recent calls), add and edit, refresh the card, delete. All
through ``save``; the pages are declared in ``pages.py``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateway.features.a2a import save, wire
from gateway.features.a2a.forms import AgentForm
from gateway.models import A2aAgent, RequestLog
from gateway.telemetry import agent_runs
from gateway.web.decorators import fields_refused, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, go_to
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


def _edit(request: HtmxHttpRequest, agent: A2aAgent | None) -> HttpResponse:
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
                "auth": agent.auth,
                "price_usd": agent.price_usd,
                "run_budget_usd": agent.run_budget_usd,
                "session_budget_usd": agent.session_budget_usd,
                "act_as_caller": agent.act_as_caller,
                "timeout": agent.timeout,
                "enabled": agent.enabled,
            }
        form = AgentForm(initial=initial)
    template = "a2a/agent_form.html" + ("#a2a-form" if request.htmx else "")
    runs: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    if agent is not None and not request.htmx:  # its latest runs and sessions, and spend
        runs = agent_runs.query(filters={"agent": agent.name}, limit=RECENT_RUNS)
        sessions = agent_runs.sessions(filters={"agent": agent.name}, limit=RECENT_RUNS)
    context = {"form": form, "agent": agent, "runs": runs, "sessions": sessions}
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
    if request.htmx:
        return HttpResponse("")
    return go_to(request, reverse("console:a2a"))


@staff_required
@require_POST
def agent_refresh(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    agent = get_object_or_404(A2aAgent, pk=pk)
    try:
        save.refresh_card(agent)
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=422)
    return go_to(request, reverse("console:a2a"))
