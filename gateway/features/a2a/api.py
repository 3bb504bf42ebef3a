"""A2A agents in the management API (``/api/a2a-agents``): create, list, read, change,
delete and refresh the card. The bearer token is write-only (answers show an
``os.environ/`` reference or a mask; the mask sent back keeps what is stored); the URL
is shown with its user info and query masked. Every change is an audit row
(``telemetry.audit`` watches the table)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from gateway.base.entries import same_named
from gateway.features.a2a import save, security
from gateway.models import A2aAgent
from gateway.web.api.writes import ValidationErrors, check_fields, save_with_secret
from gateway.web.saving import errors_by_field

PATH = "/a2a-agents"  # mounted at /api/a2a-agents (gateway.edge.api)
router = Router(tags=["a2a-agents"])


class AgentOut(Schema):
    id: int
    name: str
    description: str
    url: str
    auth: str  # "" none, "bearer", "oauth" (each caller's own token)
    bearer: str  # an os.environ/ reference or a mask
    oauth_issuer: str  # empty: discovered from the agent
    oauth_client_id: str  # empty: dynamic client registration
    oauth_client_secret_ref: str  # an os.environ/NAME
    oauth_scopes: str
    price_usd: Decimal
    run_budget_usd: Decimal | None  # the most one run may spend (null: no bound)
    session_budget_usd: Decimal | None  # the most one session (context id) may spend
    act_as_caller: bool  # its calls carry a token acting as the caller (docs/agents.md)
    timeout: float
    enabled: bool
    card: dict[str, Any]  # as the agent published it
    served_at: str  # the path the gateway serves it at
    # what the card's securitySchemes ask, read: the auth kind to suggest ("", "bearer",
    # "oauth"), an OAuth scheme's authorization_url, token_url, issuer and scopes, each
    # scheme (name, label, kind, why not served), and refused: why none can be served
    card_auth: dict[str, Any]

    @staticmethod
    def of(agent: A2aAgent) -> AgentOut:
        return AgentOut(
            id=agent.pk,
            **same_named(agent, "name description auth oauth_issuer oauth_client_id"),
            **same_named(agent, "oauth_client_secret_ref oauth_scopes price_usd run_budget_usd"),
            **same_named(agent, "session_budget_usd act_as_caller timeout enabled"),
            url=agent.url_display,
            bearer=agent.bearer_display,
            card=agent.card if isinstance(agent.card, dict) else {},
            served_at=f"/a2a/{agent.name}",
            card_auth=security.read(agent.card if isinstance(agent.card, dict) else {}).as_dict(),
        )


class AgentIn(Schema):
    name: str
    description: str = ""
    url: str  # the agent card's URL, or the agent's base URL
    auth: str = ""
    bearer: str | None = None  # a literal (stored encrypted) or os.environ/NAME
    oauth_issuer: str = ""
    oauth_client_id: str = ""
    oauth_client_secret_ref: str = ""
    oauth_scopes: str = ""
    price_usd: Decimal = Decimal(0)
    run_budget_usd: Decimal | None = None
    session_budget_usd: Decimal | None = None
    act_as_caller: bool = False
    timeout: float = 300.0
    enabled: bool = True


class AgentPatch(Schema):
    name: str | None = None
    description: str | None = None
    url: str | None = None
    auth: str | None = None
    bearer: str | None = None  # omitted: keep; "": clear
    oauth_issuer: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret_ref: str | None = None
    oauth_scopes: str | None = None
    price_usd: Decimal | None = None
    run_budget_usd: Decimal | None = None  # omitted: keep; null: no bound
    session_budget_usd: Decimal | None = None  # omitted: keep; null: no bound
    act_as_caller: bool | None = None
    timeout: float | None = None
    enabled: bool | None = None


def _saving(agent: A2aAgent | None, values: dict[str, Any], *, bearer: str | None) -> A2aAgent:
    save.check_references(agent, values, bearer)
    return save.save_agent(agent, values, bearer=bearer)


@router.get("/", response=list[AgentOut])
def list_agents(request: HttpRequest) -> list[AgentOut]:
    return [AgentOut.of(a) for a in A2aAgent.objects.all()]


@router.post("/", response={201: AgentOut, 422: ValidationErrors})
def create_agent(request: HttpRequest, payload: AgentIn) -> Status[Any]:
    check_fields(request, "a2a_agents", payload.dict(exclude_unset=True))
    return save_with_secret(_saving, None, payload, "bearer", AgentOut.of)


@router.get("/{rowid:agent_id}", response=AgentOut)
def get_agent(request: HttpRequest, agent_id: int) -> AgentOut:
    return AgentOut.of(get_object_or_404(A2aAgent, pk=agent_id))


@router.patch("/{rowid:agent_id}", response={200: AgentOut, 422: ValidationErrors})
def update_agent(request: HttpRequest, agent_id: int, payload: AgentPatch) -> Status[Any]:
    agent = get_object_or_404(A2aAgent, pk=agent_id)
    check_fields(request, "a2a_agents", payload.dict(exclude_unset=True), agent)
    return save_with_secret(_saving, agent, payload, "bearer", AgentOut.of)


@router.delete("/{rowid:agent_id}", response={204: None})
def delete_agent(request: HttpRequest, agent_id: int) -> Status[None]:
    save.delete_agent(get_object_or_404(A2aAgent, pk=agent_id))
    return Status(204, None)


@router.post("/{rowid:agent_id}/refresh", response={200: AgentOut, 422: ValidationErrors})
def refresh_card(request: HttpRequest, agent_id: int) -> Status[Any]:
    """Fetch the agent's card again (its skills or interfaces changed)."""
    agent = get_object_or_404(A2aAgent, pk=agent_id)
    try:
        return Status(200, AgentOut.of(save.refresh_card(agent)))
    except ValidationError as exc:
        return Status(422, {"errors": errors_by_field(exc)})
