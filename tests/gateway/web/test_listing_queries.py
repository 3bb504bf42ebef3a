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

from console.evals.models import (
    AnnotationQueue,
    Cell,
    Dataset,
    DatasetRow,
    Evaluator,
    Experiment,
    QueueItem,
    ShadowScoring,
    SliceScoring,
)
from gateway.access import roles
from gateway.models import (
    ApiKey,
    Deployment,
    McpServer,
    Provider,
    RequestBody,
    RequestLog,
    Route,
    Team,
)
from gateway.models.a2a import A2aAgent, A2aTask
from gateway.models.guardrails import Guardrail
from gateway.models.mcp import McpOAuthToken
from gateway.models.prompts import Prompt, PromptLabel, PromptVersion
from gateway.models.scores import Score, ScoreConfig
from gateway.models.tags import RequestTag, TagBudget, TagSpendRollup

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
        # one period: a listing reads the spends in a query a period (day, month, total)
        TagBudget.objects.create(name=f"{tag}-tag{n}", budget_usd=10, budget_period="month")
        TagSpendRollup.objects.create(
            hour=now.replace(minute=0, second=0, microsecond=0),
            tag=f"{tag}-tag{n}",
            key_id=key.pk,
            cost_usd=1,
        )
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
            tags=[f"{tag}-tag{n}"],
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


def _log(tag: str, n: int, **fields: Any) -> RequestLog:
    fields = {"dialect": "openai", "endpoint": "chat", "status": 200, **fields}
    log: RequestLog = RequestLog.objects.create(request_id=f"{tag}-req{n}", **fields)
    RequestBody.objects.create(log=log, inbound_request="{}", outbound_response="{}")
    return log


def _home() -> dict[str, Any]:
    """One row of each kind whose detail page shows its parts."""
    route = Route.objects.create(name="detail-route", shadow_routes=["detail-shadow"])
    dataset = Dataset.objects.create(name="detail-dataset")
    columns = [{"route": route.name, "params": {}}, {"route": "other", "params": {}}]
    log = _log("detail", 0, session="detail-session", route=route.name)
    return {
        "route": route,
        "provider": Provider.objects.create(name="detail-provider", kind="echo"),
        "key": ApiKey.objects.create(name="detail-key", key_hash="d".ljust(64, "0")),
        "mcp": McpServer.objects.create(
            name="detail-mcp", transport="streamable_http", url="https://mcp.example/"
        ),
        "agent": A2aAgent.objects.create(name="detail-agent", url="https://agent.example/"),
        "guardrail": Guardrail.objects.create(
            name="detail-g", kind="content_filter", modes=["pre_call"], params={}
        ),
        "prompt": Prompt.objects.create(name="detail-prompt"),
        "log": log,
        "dataset": dataset,
        "experiment": Experiment.objects.create(
            name="detail-exp", dataset=dataset, dataset_version=1, columns=columns,
            status=Experiment.Status.DONE,
        ),
        "queue": (queue := AnnotationQueue.objects.create(name="detail-queue")),
        "item": QueueItem.objects.create(queue=queue, log=log, source="log"),
        "evaluator": Evaluator.objects.create(
            name="detail-eval", route=route.name, scorer={"kind": "exact"}, score_name="q"
        ),
        "run": SliceScoring.objects.create(scorer={"kind": "exact"}, score_name="q"),
    }  # fmt: skip


def _more_holders(home: dict[str, Any], tag: str) -> None:
    """A key's routes and tags, a guardrail's routes, teams and verdicts, an MCP
    server's and an agent's connections, an agent's runs, a provider's deployments."""
    user = User.objects.create_user(f"{tag}-holder", password="pw-123456789")
    named = [home["guardrail"].name]
    team = Team.objects.create(name=f"{tag}-dt", guardrails=named)
    route = Route.objects.create(name=f"{tag}-dr", guardrails=named)
    route.teams.add(team)
    _log(f"{tag}-guarded", 0, guardrails=[{"name": named[0], "verdict": "blocked"}])
    run = {"route": home["agent"].name, "agent_run": f"{tag}-run", "session": f"{tag}-c"}
    _log(f"{tag}-a2a", 0, dialect="a2a", endpoint="a2a", **run)
    A2aTask.objects.create(agent=home["agent"], task_id=f"{tag}-task")
    for target in ({"server": home["mcp"]}, {"agent": home["agent"]}):
        McpOAuthToken.objects.create(user=user, access_token_ciphertext="x", **target)
    home["key"].routes.add(route)
    home["key"].tags = [*home["key"].tags, f"{tag}-tag"]
    home["key"].save(update_fields=["tags"])
    Deployment.objects.create(route=home["route"], provider=home["provider"], model=tag)


def _more_traffic(home: dict[str, Any], tag: str) -> None:
    """A log's scores, tags and attempts, a session's requests, a route's shadow pairs
    and their scoring runs, a queue's items and score configs (and a reviewer's scores
    of an item), an evaluator's scores, a judging run's logs."""
    log = home["log"]
    part = _log(tag, 0, session="detail-session", route=home["route"].name, key_id=home["key"].pk)
    _log(f"{tag}-mirror", 0, route="detail-shadow", shadow_of=part.request_id)
    ShadowScoring.objects.create(
        route=home["route"], scorer={"kind": "exact"}, status="done", scores={part.request_id: 1}
    )
    Score.objects.create(log=log, name=f"{tag}-s", value=1, source="api")
    Score.objects.create(
        log=part, name="q", value=1, source="judge", author=home["evaluator"].author
    )
    RequestTag.objects.create(log=log, tag=f"{tag}-t", created_at=timezone.now())
    log.attempts = [*log.attempts, {"deployment_id": len(log.attempts), "status": 500}]
    log.save(update_fields=["attempts"])
    QueueItem.objects.create(queue=home["queue"], log=part, source="log")
    config = ScoreConfig.objects.create(name=f"{tag}-sc", data_type="numeric")
    home["queue"].score_configs.add(config)
    Score.objects.create(log=log, name=config.name, value=1, source="review", author="boss")
    run = home["run"]
    run.logs, run.scored = [*run.logs, part.pk], {**run.scored, str(part.pk): 1.0}
    run.save(update_fields=["logs", "scored"])


def _more_versions(home: dict[str, Any], tag: str) -> None:
    """A prompt's versions and labels (and a comparison's experiment of each), a
    dataset's rows, an experiment's cells."""
    prompt, hi = home["prompt"], [{"role": "user", "content": "hi"}]
    version = PromptVersion.objects.create(
        prompt=prompt, number=prompt.versions.count() + 1, messages=hi
    )
    PromptLabel.objects.create(prompt=prompt, name=f"{tag}-label", version=version)
    index = home["dataset"].all_rows.count()
    DatasetRow.objects.create(dataset=home["dataset"], version=1, index=index, messages=hi)
    for side in (0, 1):
        Cell.objects.create(experiment=home["experiment"], row_index=index, column=side)
    spec = {"name": prompt.name, "run": "detail-run", "version": version.number}
    column = {"route": "detail-route", "params": {}, "prompt": spec, "label": f"v{version.number}"}
    compared = Experiment.objects.create(
        name=f"{tag}-compared", dataset=home["dataset"], dataset_version=1, columns=[column],
        scorers=[{"kind": "exact"}], status=Experiment.Status.DONE,
    )  # fmt: skip
    for row in range(index + 1):
        Cell.objects.create(experiment=compared, row_index=row, column=0, scores={"exact": 1.0})


# (the pages and /api answers showing a row with its parts, what adds a part of each)
DETAILS = (
    (("mcp-servers/{mcp}/", "api/mcp-servers/{mcp}", "a2a-agents/{agent}/",
      "api/a2a-agents/{agent}", "guardrails/{guardrail}/", "guardrails/{guardrail}/edit/",
      "api/guardrails/{guardrail}", "keys/{key}/edit/", "api/keys/{key}",
      "providers/{provider}/", "api/providers/{provider}"), _more_holders),
    (("logs/detail-req0/", "api/logs/detail-req0", "api/logs/detail-req0/scores",
      "sessions/detail-session/", "routes/{route}/shadow/", "evals/queues/{queue}/",
      "evals/queues/{queue}/items/{item}/", "api/annotation-queues/{queue}",
      "evals/evaluators/{evaluator}/", "api/evaluators/{evaluator}", "scores/runs/{run}/"),
     _more_traffic),
    (("prompts/detail-prompt/", "prompts/detail-prompt/diff/", "api/prompts/detail-prompt",
      "api/prompts/detail-prompt/versions", "evals/prompts/detail-prompt/compare/",
      "evals/prompts/detail-prompt/compare/detail-run/",
      "api/prompt-comparisons/detail-prompt/detail-run",
      "evals/datasets/{dataset}/", "evals/datasets/{dataset}/rows/0/", "api/datasets/{dataset}",
      "api/datasets/{dataset}/rows", "evals/experiments/{experiment}/",
      "evals/experiments/{experiment}/review/", "evals/experiments/{experiment}/rows/0/",
      "api/experiments/{experiment}", "api/experiments/{experiment}/results"), _more_versions),
)  # fmt: skip


def test_no_detail_makes_a_query_a_part(settings: Any) -> None:
    """Every other detail page and /api answer showing a row with its parts (a key's
    routes, a guardrail's holders, an agent's runs, a log's scores and attempts, a
    session's requests, a queue's items, a prompt's versions and labels, a dataset's
    rows, an experiment's cells), with one part and with six: the same number of queries."""
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    console = Client()
    console.force_login(User.objects.create_user("boss", password="pw-123456789", is_staff=True))
    home = _home()
    pk = {name: row.pk for name, row in home.items()}
    paths = [path.format(**pk) for kind, _ in DETAILS for path in kind]
    counted = []
    for tags in (["one"], ["more1", "more2", "more3", "more4", "more5"]):
        for _, more in DETAILS:
            for tag in tags:
                more(home, tag)
        counted.append(_read(paths, api, console))
    one, six = counted
    assert all(one[p][0] == six[p][0] == 200 for p in paths), (one, six)
    growing = {p: (one[p][1], six[p][1]) for p in paths if six[p][1] > one[p][1]}
    assert not growing, growing
