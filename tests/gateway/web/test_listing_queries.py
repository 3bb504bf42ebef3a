"""Every page and /api listing without a path parameter, read with one row of each kind
and with six: the same number of queries. A row's part read by a template or a resolver
(a route's teams, a provider's deployment count) must come with the listing, or a
registry of a few hundred rows makes a page of a thousand queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from gateway.access import roles
from gateway.models import ApiKey, Deployment, McpServer, Provider, RequestLog, Route, Team
from gateway.models.a2a import A2aAgent
from gateway.models.guardrails import Guardrail
from gateway.models.prompts import Prompt

pytestmark = pytest.mark.django_db
MASTER = "sy-master-listings"
# GETs that sign out or start a sign-in: not listings
LEFT_OUT = {"logout/", "login/sso/", "login/sso/callback/", "oauth/authorize/"}


def _paths(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        path = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _paths(pattern.url_patterns, path)
        elif "<" not in path and "^" not in path and "(" not in path:
            yield path


def _seed(tag: str, count: int) -> None:
    now = timezone.now()
    for n in range(count):
        provider = Provider.objects.create(name=f"{tag}-p{n}", kind="echo")
        team = Team.objects.create(name=f"{tag}-t{n}")
        user = User.objects.create_user(f"{tag}-u{n}", password="pw-123456789")
        roles.set_role(user, "editor")
        roles.assign_membership(user, team, "member")
        route = Route.objects.create(name=f"{tag}-r{n}")
        route.teams.add(team)
        for model in ("a", "b"):
            Deployment.objects.create(route=route, provider=provider, model=f"m-{model}")
        key = ApiKey.objects.create(
            name=f"{tag}-k{n}", key_hash=f"{tag}{n}".ljust(64, "0"), team=team, user=user
        )
        key.routes.add(route)
        McpServer.objects.create(
            name=f"{tag}-mcp{n}", transport="streamable_http", url="https://mcp.example/"
        )
        Guardrail.objects.create(
            name=f"{tag}-g{n}", kind="content_filter", modes=["pre_call"], params={}
        )
        A2aAgent.objects.create(name=f"{tag}-a{n}", url="https://agent.example/")
        Prompt.objects.create(name=f"{tag}-prompt{n}")
        RequestLog.objects.create(
            request_id=f"{tag}-req{n}",
            created_at=now - timedelta(seconds=n),
            dialect="openai",
            endpoint="chat",
            status=200,
            route=route.name,
            key_id=key.pk,
            key_name=key.name,
            provider=provider.name,
            deployment_id=route.deployments.first().pk,
            end_user=f"{tag}-customer{n}",
            latency_ms=1.0,
        )


def _read(paths: list[str], api: Client, console: Client) -> dict[str, tuple[int, int]]:
    counted = {}
    for path in paths:
        client = api if path.startswith("api/") else console
        client.get("/" + path)  # what a first read loads once (a catalog, a cache)
        with CaptureQueriesContext(connection) as queries:
            status = client.get("/" + path).status_code
        counted[path] = (status, len(queries.captured_queries))
    return counted


def test_no_listing_makes_a_query_a_row(settings: Any) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    console = Client()
    console.force_login(User.objects.create_user("boss", password="pw-123456789", is_staff=True))
    paths = sorted(set(_paths(get_resolver().url_patterns)) - LEFT_OUT)
    _seed("one", 1)
    one = _read(paths, api, console)
    _seed("more", 5)
    six = _read(paths, api, console)
    read = [p for p in paths if one[p][0] == six[p][0] == 200]
    assert {"api/routes/", "api/teams/", "api/users/", "api/providers/", "routes/", "keys/"} <= set(
        read
    ), one
    growing = {p: (one[p][1], six[p][1]) for p in read if six[p][1] > one[p][1]}
    assert not growing, growing


def _grow(team: Team, route: Route, user: User, tag: str, count: int) -> None:
    provider = Provider.objects.get_or_create(name="parts", kind="echo")[0]
    for n in range(count):
        member = User.objects.create_user(f"{tag}-member{n}", password="pw-123456789")
        roles.assign_membership(member, team, "member")
        roles.assign_membership(user, Team.objects.create(name=f"{tag}-t{n}"), "viewer")
        key = ApiKey.objects.create(
            name=f"{tag}-k{n}", key_hash=f"{tag}{n}".ljust(64, "0"), team=team, user=user
        )
        key.routes.add(route)
        Deployment.objects.create(route=route, provider=provider, model=f"{tag}-m{n}")


def test_no_row_makes_a_query_a_part(settings: Any) -> None:
    """A team's page with one member and key and with six, a route's with one deployment
    and with six, a user's with one team and with six: the same number of queries."""
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    console = Client()
    console.force_login(User.objects.create_user("boss", password="pw-123456789", is_staff=True))
    team, route = Team.objects.create(name="home"), Route.objects.create(name="home-route")
    user = User.objects.create_user("person", password="pw-123456789")
    route.teams.add(team)
    paths = [
        f"api/teams/{team.pk}", f"api/routes/{route.pk}", f"api/routes/{route.pk}/deployments",
        "api/users/person", f"teams/{team.pk}/", f"routes/{route.pk}/", f"users/{user.pk}/",
    ]  # fmt: skip
    _grow(team, route, user, "one", 1)
    one = _read(paths, api, console)
    _grow(team, route, user, "more", 5)
    six = _read(paths, api, console)
    assert all(one[p][0] == six[p][0] == 200 for p in paths), (one, six)
    growing = {p: (one[p][1], six[p][1]) for p in paths if six[p][1] > one[p][1]}
    assert not growing, growing
