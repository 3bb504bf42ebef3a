"""Routes and their deployments in the management API (ids in paths: route names may
contain slashes)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import create_model

from gateway.access import roles
from gateway.access.rules import routes as route_rules
from gateway.catalog import capability_flags, figures_for
from gateway.edge.api.providers import ValidationErrors
from gateway.models import ROUTE_NAME, Deployment, Route, Team
from gateway.ops import admin_ops
from gateway.web import saving
from gateway.web.api.fields import column, omittable
from gateway.web.api.writes import check_fields

router = Router(tags=["routes"])


def with_flags(base: type[Schema], name: str, *, patch: bool) -> type[Schema]:
    """``base`` followed by one field per capability flag (gateway.catalog.capability_flags). Out:
    a flag the catalog may decide is ``bool | None`` (null: the catalog's figure applies,
    see effective), a plain one ``bool``. In a patch each may be left out (kept), and only
    a nullable one sent as null."""
    fields: dict[str, Any] = {
        flag.name: (bool | None if flag.nullable else bool, None if flag.nullable else omittable())
        if patch
        else (bool | None if flag.nullable else bool, ...)
        for flag in capability_flags.FLAGS
    }
    return create_model(name, __base__=base, **fields)


class _DeploymentFiguresOut(Schema):
    id: int
    route_id: int
    provider: str
    provider_id: int
    model: str
    enabled: bool
    weight: float
    rpm: int | None
    tpm: int | None
    # null: not set on the deployment, the model catalog's figure applies (see effective)
    input_price: Decimal | None
    output_price: Decimal | None
    cache_read_price: Decimal | None
    cache_write_price: Decimal | None
    search_unit_price: Decimal | None  # rerank: USD per search unit
    context_window: int | None
    max_output_tokens: int | None


_DeploymentFlagsOut = with_flags(_DeploymentFiguresOut, "_DeploymentFlagsOut", patch=False)


class DeploymentOut(_DeploymentFlagsOut):  # type: ignore[misc,valid-type]
    params: dict[str, Any]
    effective: dict[str, Any]

    @staticmethod
    def resolve_provider(obj: Deployment) -> str:
        return obj.provider.name

    @staticmethod
    def resolve_effective(obj: Deployment) -> dict[str, Any]:
        """The figures in force (catalog filling what the deployment leaves empty),
        each with where it came from; prices in USD per 1M tokens."""

        return figures_for(obj)


class _DeploymentFiguresPatch(Schema):
    """Left out: kept. Null clears only what may be empty (caps, prices, windows)."""

    provider: str | int = omittable()  # name or id
    model: str = column(Deployment, "model", patch=True)
    enabled: bool = omittable()
    weight: float = column(Deployment, "weight", patch=True)
    rpm: int | None = column(Deployment, "rpm", patch=True)
    tpm: int | None = column(Deployment, "tpm", patch=True)
    input_price: Decimal | None = column(Deployment, "input_price", patch=True)
    output_price: Decimal | None = column(Deployment, "output_price", patch=True)
    cache_read_price: Decimal | None = column(Deployment, "cache_read_price", patch=True)
    cache_write_price: Decimal | None = column(Deployment, "cache_write_price", patch=True)
    search_unit_price: Decimal | None = column(Deployment, "search_unit_price", patch=True)
    context_window: int | None = column(Deployment, "context_window", patch=True)
    max_output_tokens: int | None = column(Deployment, "max_output_tokens", patch=True)


_DeploymentFlagsPatch = with_flags(_DeploymentFiguresPatch, "_DeploymentFlagsPatch", patch=True)


class DeploymentPatch(_DeploymentFlagsPatch):  # type: ignore[misc,valid-type]
    params: dict[str, Any] = omittable()


class DeploymentIn(DeploymentPatch):
    provider: str | int
    model: str = column(Deployment, "model")


class RouteOut(Schema):
    id: int
    name: str
    description: str
    enabled: bool
    strategy: str
    fallbacks: list[str]
    context_window_fallbacks: list[str]  # larger routes tried when the prompt is too long
    drop_params: bool
    default_params: dict[str, Any]
    max_attempts: int
    timeout: float | None
    retry_budget: float | None  # share of requests retried a minute; None: the server's
    cache_ttl: int  # seconds answers stay in the response cache; 0: not cached
    cache_scope: str  # "route" (keys allowed on the route share) or "key"
    semantic_cache_ttl: int  # seconds answers stay in the semantic cache; 0: off
    semantic_cache_threshold: float  # cosine similarity from which an answer is served
    semantic_cache_scope: str  # key | team | route: who shares the semantic cache's answers
    semantic_cache_route: str  # the embedding route that embeds the requests
    semantic_cache_dialects: list[str]  # client APIs using it; [] every chat API
    # searxng | brave | tavily | route (web_search_url names the route): web search run
    # by the gateway; "": off
    web_search_backend: str
    web_search_url: str  # the search API's URL
    web_search_key: str  # its key as os.environ/NAME
    web_search_price: Decimal | None  # USD per search the gateway runs
    auto_cache_breakpoints: bool  # prompt-cache breakpoints for Anthropic/Bedrock upstreams
    shadow_routes: list[str]  # routes mirrored to in the background
    shadow_percent: float  # share of requests mirrored (0-100)
    mcp_passthrough: bool  # hosted MCP tools handed to same-API upstreams (else run here)
    mcp_servers: list[str]  # registered MCP servers attached to every request (run here)
    batch_mode: str  # auto | gateway | native: how a batch on the route runs
    guardrails: list[str]  # guardrails (names) every request on the route runs
    deployments: list[DeploymentOut]
    teams: list[str]  # teams whose keys may use the route; [] every team

    @staticmethod
    def resolve_teams(obj: Route) -> list[str]:
        return sorted(t.name for t in obj.teams.all())

    @staticmethod
    def resolve_deployments(obj: Route) -> list[Deployment]:
        return list(obj.deployments.all())  # prefetched with their providers (_with_parts)


class RoutePatch(Schema):
    """Left out: kept. Null clears only what may be empty (``timeout``, ``retry_budget``:
    the server's default; ``guardrails``: none; ``teams``: unchanged)."""

    name: str = column(Route, "name", patch=True, pattern=ROUTE_NAME.pattern)
    description: str = column(Route, "description", patch=True)
    enabled: bool = omittable()
    strategy: str = column(Route, "strategy", patch=True)
    fallbacks: list[str] = omittable()
    context_window_fallbacks: list[str] = omittable()
    drop_params: bool = omittable()
    default_params: dict[str, Any] = omittable()
    max_attempts: int = column(Route, "max_attempts", patch=True)
    timeout: float | None = column(Route, "timeout", patch=True)
    retry_budget: float | None = column(Route, "retry_budget", patch=True)
    cache_ttl: int = column(Route, "cache_ttl", patch=True)
    cache_scope: str = column(Route, "cache_scope", patch=True)
    semantic_cache_ttl: int = column(Route, "semantic_cache_ttl", patch=True)
    semantic_cache_threshold: float = column(Route, "semantic_cache_threshold", patch=True)
    semantic_cache_scope: str = column(Route, "semantic_cache_scope", patch=True)
    semantic_cache_route: str = column(Route, "semantic_cache_route", patch=True)
    semantic_cache_dialects: list[str] = omittable()
    web_search_backend: str = column(Route, "web_search_backend", patch=True)
    web_search_url: str = column(Route, "web_search_url", patch=True)
    web_search_key: str = column(Route, "web_search_key", patch=True)
    web_search_price: Decimal | None = column(Route, "web_search_price", patch=True)
    auto_cache_breakpoints: bool = omittable()
    shadow_routes: list[str] = omittable()
    shadow_percent: float = column(Route, "shadow_percent", patch=True)
    mcp_passthrough: bool = omittable()
    mcp_servers: list[str] = omittable()
    batch_mode: str = column(Route, "batch_mode", patch=True)  # auto | gateway | native
    guardrails: list[str] | None = None  # existing guardrails' names ([] or null: none)
    teams: list[str] | None = None  # team names; [] opens the route to every team


class RouteIn(RoutePatch):
    name: str = column(Route, "name", pattern=ROUTE_NAME.pattern)
    deployments: list[DeploymentIn] = []


def _invalid(exc: ValidationError) -> Status[dict[str, dict[str, list[str]]]]:
    return Status(422, {"errors": saving.errors_by_field(exc)})


def _set_fields(payload: Schema, exclude: set[str] | None = None) -> dict[str, Any]:
    """The fields the caller sent (``None`` for a nullable field means "clear")."""
    return payload.dict(exclude_unset=True, exclude=exclude or set())


def _changeable(request: HttpRequest, route_id: int) -> Route:
    """The route, if the caller's role may change it (editors: their teams' routes)."""
    route: Route = get_object_or_404(Route, pk=route_id)
    if not roles.may_change_route(request.actor, route):
        raise HttpError(403, f"the role {request.actor.role} may not change route {route.name}")
    return route


def _teams(request: HttpRequest, names: list[str] | None, creating: bool) -> list[Team] | None:
    """The teams a route is to be limited to (None: unchanged). Below admin, a route
    stays within the caller's teams (a new one gets them all when none are named)."""
    actor: roles.Actor = request.actor
    if names is None:
        if creating and not actor.everywhere:
            return list(Team.objects.filter(pk__in=actor.editor_teams()))
        return None
    found = {t.name: t for t in Team.objects.filter(name__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValidationError({"teams": [f"unknown team(s): {', '.join(unknown)}"]})
    teams = list(found.values())
    if not actor.everywhere and (not teams or {t.pk for t in teams} - actor.editor_teams()):
        raise HttpError(403, "an editor's routes stay limited to teams they edit")
    return teams


def _attachable(request: HttpRequest, wanted: list[str] | None, attached: Any = ()) -> None:
    """A 403 when the route's ``mcp_servers`` would newly attach a server the caller may
    not (``mcp.server.attach``)."""
    refused = route_rules.refused_attachments(request.actor, wanted, attached)
    if refused:
        raise HttpError(
            403, f"the role {request.actor.role} may not attach MCP server(s) {', '.join(refused)}"
        )


@router.get("/", response=list[RouteOut])
def list_routes(request: HttpRequest) -> list[Route]:
    return list(roles.visible_routes(request.actor, _with_parts()))


@router.post("/", response={201: RouteOut, 422: ValidationErrors})
def create_route(request: HttpRequest, payload: RouteIn) -> Status[Any]:
    _attachable(request, payload.mcp_servers)
    try:
        teams = _teams(request, payload.teams, creating=True)
        check_fields(request, "routes", _set_fields(payload))
        with transaction.atomic():
            route = admin_ops.save_route(None, _set_fields(payload, {"deployments", "teams"}))
            if teams is not None:
                route.teams.set(teams)
            for index, spec in enumerate(payload.deployments):
                try:
                    admin_ops.save_deployment(route, None, _set_fields(spec), actor=request.actor)
                except ValidationError as exc:
                    errors = saving.errors_by_field(exc)
                    raise ValidationError(
                        {f"deployments[{index}].{k}": v for k, v in errors.items()}
                    ) from None
    except ValidationError as exc:
        return _invalid(exc)
    return Status(201, _with_parts().get(pk=route.pk))


@router.get("/{rowid:route_id}", response=RouteOut)
def get_route(request: HttpRequest, route_id: int) -> Route:
    visible = roles.visible_routes(request.actor, _with_parts())
    route: Route = get_object_or_404(visible, pk=route_id)
    return route


def _with_parts() -> QuerySet[Route]:
    """Routes with what ``RouteOut`` reads of them: a listing's queries do not grow with
    its routes."""
    return Route.objects.prefetch_related("deployments__provider", "teams")


@router.patch("/{rowid:route_id}", response={200: RouteOut, 422: ValidationErrors})
def update_route(request: HttpRequest, route_id: int, payload: RoutePatch) -> Status[Any]:
    route = _changeable(request, route_id)
    _attachable(request, payload.mcp_servers, route.mcp_servers)
    try:
        teams = _teams(request, payload.teams, creating=False)
        check_fields(request, "routes", _set_fields(payload), route)
        with transaction.atomic():
            route = admin_ops.save_route(route, _set_fields(payload, {"teams"}))
            if teams is not None:
                route.teams.set(teams)
        return Status(200, _with_parts().get(pk=route.pk))
    except ValidationError as exc:
        return _invalid(exc)


@router.delete("/{rowid:route_id}", response={204: None, 409: ValidationErrors})
def delete_route(request: HttpRequest, route_id: int) -> Status[Any]:
    route = _changeable(request, route_id)
    try:
        admin_ops.delete_route(route)
    except ValidationError as exc:
        return Status(409, {"errors": saving.errors_by_field(exc)})
    return Status(204, None)


@router.get("/{rowid:route_id}/deployments", response=list[DeploymentOut])
def list_deployments(request: HttpRequest, route_id: int) -> list[Deployment]:
    route = get_object_or_404(roles.visible_routes(request.actor, Route.objects.all()), pk=route_id)
    return list(route.deployments.select_related("provider"))


@router.post("/{rowid:route_id}/deployments", response={201: DeploymentOut, 422: ValidationErrors})
def create_deployment(request: HttpRequest, route_id: int, payload: DeploymentIn) -> Status[Any]:
    route = _changeable(request, route_id)
    check_fields(request, "deployments", _set_fields(payload))
    try:
        return Status(
            201, admin_ops.save_deployment(route, None, _set_fields(payload), actor=request.actor)
        )
    except ValidationError as exc:
        return _invalid(exc)


def _deployment(route_id: int, deployment_id: int) -> tuple[Route, Deployment]:
    deployment = get_object_or_404(
        Deployment.objects.select_related("route", "provider"),
        pk=deployment_id,
        route_id=route_id,
    )
    return deployment.route, deployment


@router.patch(
    "/{rowid:route_id}/deployments/{rowid:deployment_id}",
    response={200: DeploymentOut, 422: ValidationErrors},
)
def update_deployment(
    request: HttpRequest, route_id: int, deployment_id: int, payload: DeploymentPatch
) -> Status[Any]:
    _changeable(request, route_id)
    route, deployment = _deployment(route_id, deployment_id)
    check_fields(request, "deployments", _set_fields(payload), deployment)
    try:
        return Status(
            200,
            admin_ops.save_deployment(route, deployment, _set_fields(payload), actor=request.actor),
        )
    except ValidationError as exc:
        return _invalid(exc)


@router.delete("/{rowid:route_id}/deployments/{rowid:deployment_id}", response={204: None})
def delete_deployment(request: HttpRequest, route_id: int, deployment_id: int) -> Status[None]:
    _changeable(request, route_id)
    _, deployment = _deployment(route_id, deployment_id)
    admin_ops.delete_deployment(deployment)
    return Status(204, None)
