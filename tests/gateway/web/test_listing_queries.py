"""Every page and /api listing without a path parameter, read with one row of each kind
and with six: the same number of queries. A row's part read by a template or a resolver
(a route's teams, a provider's deployment count) must come with the listing, or a
registry of a few hundred rows makes a page of a thousand queries. So must a page or
/api answer with a path parameter (a row's, read with one part and with six): every one
of the URL conf's that answers a GET is read here or exempt, with why (``EXEMPT``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve
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
from console.models import BlindVote, Comparison
from gateway.access import roles
from gateway.features.people import invites
from gateway.models import (
    ApiKey,
    Deployment,
    Invite,
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


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route


def _parameterised(route: str) -> bool:
    return "<" in route or "^" in route or "(" in route


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
    console.force_login(User.objects.create_superuser("boss", password="pw-123456789"))
    routes = set(_routes(get_resolver().url_patterns))
    paths = sorted({route for route in routes if not _parameterised(route)} - LEFT_OUT)
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


# (a team's, a route's and a user's pages and /api answers: the parts _grow adds)
PARTS = (
    "api/teams/{team}", "api/routes/{route}", "api/routes/{route}/deployments",
    "api/users/person", "api/user-limits/person", "teams/{team}/", "routes/{route}/",
    "users/{user}/",
)  # fmt: skip


def test_no_row_makes_a_query_a_part(settings: Any) -> None:
    """A team's page with one member and key and with six, a route's with one deployment
    and with six, a user's with one team and key and with six: the same number of
    queries."""
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    console = Client()
    console.force_login(User.objects.create_user("boss", password="pw-123456789", is_staff=True))
    team, route = Team.objects.create(name="home"), Route.objects.create(name="home-route")
    user = User.objects.create_user("person", password="pw-123456789")
    route.teams.add(team)
    pk = {"team": team.pk, "route": route.pk, "user": user.pk}
    paths = [path.format(**pk) for path in PARTS]
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
    provider = Provider.objects.create(name="detail-provider", kind="echo")
    return {
        "route": route,
        "provider": provider,
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
        "deployment": Deployment.objects.create(route=route, provider=provider, model="home"),
        "config": ScoreConfig.objects.create(name="detail-config", data_type="numeric"),
        "tag": TagBudget.objects.create(name="detail-tag", budget_usd=10, budget_period="total"),
        "scoring": ShadowScoring.objects.create(route=route, scorer={"kind": "exact"}),
        "invite": Invite.objects.create(
            token_hash=invites.token_hash("detail-token"), username="invited", role="viewer",
            expires_at=timezone.now() + timedelta(days=1), created_by=User.objects.create_user(
                "inviter", password="pw-123456789", is_staff=True),
        ),
        "comparison": _comparison(),
    }  # fmt: skip


def _more_holders(home: dict[str, Any], tag: str) -> None:
    """A key's routes and tags, a guardrail's routes, teams and verdicts, an MCP
    server's and an agent's connections, an agent's runs, a provider's and a route's
    deployments (and a deployment form's providers), an invite's teams, admin history."""
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
    Provider.objects.create(name=f"{tag}-provider", kind="echo")  # a deployment form's choices
    home["invite"].teams.add(team)
    for name in ("route", "provider", "key", "log"):  # their admin history
        LogEntry.objects.create(
            user=user, content_type=ContentType.objects.get_for_model(home[name]),
            object_id=str(home[name].pk), object_repr=tag, action_flag=CHANGE,
        )  # fmt: skip


def _more_traffic(home: dict[str, Any], tag: str) -> None:
    """A log's scores, tags and attempts, a session's requests, a route's shadow pairs
    and their scoring runs, a queue's items and score configs (and a reviewer's scores
    of an item), an evaluator's scores, a judging run's logs, a score config's scores, a
    scoring run's pairs, a tag budget's spend rows."""
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
    Score.objects.create(log=part, name=home["config"].name, value=1, source="api")
    scoring = home["scoring"]
    scoring.mirrors, scoring.scores = (
        [*scoring.mirrors, part.request_id],
        {**scoring.scores, part.request_id: 1},
    )
    scoring.save(update_fields=["mirrors", "scores"])
    TagSpendRollup.objects.create(
        hour=timezone.now(), tag=home["tag"].name, key_id=home["key"].pk, key_name=tag, cost_usd=1
    )


def _more_versions(home: dict[str, Any], tag: str) -> None:
    """A prompt's versions and labels (and a comparison's experiment of each), a
    dataset's rows, an experiment's cells, a playground session's turns."""
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
    comparison = home["comparison"]  # a playground session's turns
    comparison.followups = [*comparison.followups, tag]
    comparison.results = [*comparison.results, comparison.results[0]]
    comparison.save(update_fields=["followups", "results"])


def _comparison() -> Comparison:
    """A blind playground session of two columns, voted on (its routes shown)."""
    columns = [{"route": route, "dialect": "openai", "params": {}} for route in ("x", "y")]
    answers = [{"route": c["route"], "text": "hi", "metrics": {"cost_usd": "0.01"},
                "request": {"model": c["route"]}} for c in columns]  # fmt: skip
    comparison = Comparison.objects.create(
        messages=[{"role": "user", "content": "hi"}], columns=columns, results=[answers],
        blind=True,
    )  # fmt: skip
    BlindVote.objects.create(comparison=comparison, winner_index=0, routes=["x", "y"])
    return comparison


# Django's admin of a row (its change, delete and history pages): the model, the row
ADMIN = (("gateway/route", "route"), ("gateway/provider", "provider"), ("gateway/apikey", "key"),
         ("gateway/requestlog", "log"))  # fmt: skip
DELETES_NAMING_DEPLOYMENTS = ("gateway/route", "gateway/provider")  # exempt, below

# (the pages and /api answers showing a row with its parts, what adds a part of each)
DETAILS = (
    (("mcp-servers/{mcp}/", "api/mcp-servers/{mcp}", "a2a-agents/{agent}/",
      "api/a2a-agents/{agent}", "guardrails/{guardrail}/", "guardrails/{guardrail}/edit/",
      "api/guardrails/{guardrail}", "keys/{key}/edit/", "api/keys/{key}",
      "providers/{provider}/", "api/providers/{provider}", "deployments/{deployment}/",
      "routes/{route}/deployments/new/", "invite/detail-token/",
      *(f"admin/{model}/{{{name}}}/{page}" for model, name in ADMIN
        for page in ("change/", "delete/", "history/")
        if not (page == "delete/" and model in DELETES_NAMING_DEPLOYMENTS)),
      ".well-known/oauth-protected-resource/mcp/detail-mcp"), _more_holders),
    (("logs/detail-req0/", "api/logs/detail-req0", "api/logs/detail-req0/scores",
      "sessions/detail-session/", "routes/{route}/shadow/", "evals/queues/{queue}/",
      "evals/queues/{queue}/items/{item}/", "api/annotation-queues/{queue}",
      "evals/evaluators/{evaluator}/", "api/evaluators/{evaluator}", "scores/runs/{run}/",
      "api/score-configs/{config}", "evals/score-configs/{config}/", "api/tags/{tag}",
      "routes/{route}/shadow/scoring/{scoring}/"), _more_traffic),
    (("prompts/detail-prompt/", "prompts/detail-prompt/diff/", "api/prompts/detail-prompt",
      "api/prompts/detail-prompt/versions", "evals/prompts/detail-prompt/compare/",
      "evals/prompts/detail-prompt/compare/detail-run/",
      "api/prompt-comparisons/detail-prompt/detail-run",
      "evals/datasets/{dataset}/", "evals/datasets/{dataset}/rows/0/", "api/datasets/{dataset}",
      "api/datasets/{dataset}/rows", "evals/experiments/{experiment}/",
      "evals/experiments/{experiment}/review/", "evals/experiments/{experiment}/rows/0/",
      "api/experiments/{experiment}", "api/experiments/{experiment}/results",
      "api/prompts/detail-prompt/diff?from=1&to=1", "evals/experiments/{experiment}/progress/",
      "evals/experiments/{experiment}/export.csv", "evals/experiments/{experiment}/export.json",
      "playground/?comparison={comparison}", "playground/{comparison}/panel/",
      "playground/{comparison}/diff/", "playground/{comparison}/raw/0/1/"), _more_versions),
)  # fmt: skip


def test_no_detail_makes_a_query_a_part(settings: Any) -> None:
    """Every other detail page and /api answer showing a row with its parts (a key's
    routes, a guardrail's holders, an agent's runs, a log's scores and attempts, a
    session's requests, a queue's items, a prompt's versions and labels, a dataset's
    rows, an experiment's cells, an invite's teams, a playground session's turns, a
    route's deployments in Django's admin), with one part and with six: the same number
    of queries."""
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    console = Client()
    console.force_login(User.objects.create_superuser("boss", password="pw-123456789"))  # admin too
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


# Every route with a path parameter that answers a GET and is read by none of the tests
# above, and why: a new one is read above or named here, or the test below fails.
REDIRECTS = "a GET only redirects (to a page read above); its form POSTs"
EXEMPT = {
    "static/<path:path>": "a file from disk: no rows",
    "^api/": "an /api path of no endpoint: a 404 reading no rows",
    "logs/<str:request_id>/score/": REDIRECTS,
    "dashboard/pins/<int:pk>/unpin/": REDIRECTS,
    "dashboard/pins/<int:pk>/move/": REDIRECTS,
    "evals/queues/<int:pk>/dataset/": REDIRECTS,
    "evals/queues/<int:pk>/review/": "claims the reviewer's next item (of at most 20 free ones) "
    "and redirects to its page, read above",
    "mcp-servers/<int:pk>/tools/": "connects to the server for its tools: what it shows is "
    "the server's answer, of one row (a test would call out to the internet)",
    "batches/<str:batch_id>/<str:which>.jsonl": "one batch's file, from the file store",
    "admin/(?P<url>.*)$": "Django's admin: an admin URL of no page, redirected",
    "admin/^(?P<app_label>auth|gateway)/$": "Django's admin: an app's models, no rows",
    "admin/r/<path:content_type_id>/<path:object_id>/": "Django's admin: redirects to a row's "
    "page",
    **{f"admin/{model}/<path:object_id>/": "Django's admin: redirects to the row's change page"
       for model, _ in ADMIN},
    **{f"admin/auth/{model}/<path:object_id>/{page}": "Django's own admin of its users and "
       "groups (UserAdmin, GroupAdmin): nothing of ours draws it"
       for model in ("user", "group") for page in ("", "change/", "delete/", "history/")},
    "admin/auth/user/<id>/password/": "Django's own admin: a user's password form",
    # Django's collector names each row deleted with the route (kept from the provider) by
    # its __str__, a deployment's by its route's and provider's names: a query a
    # deployment, with no hook for a join short of a copy of Django's
    # admin.utils.get_deleted_objects. An owner's page, seen once before a delete.
    **{f"admin/{model}/<path:object_id>/delete/": "Django's delete confirmation: a query a "
       "deployment (Deployment.__str__)" for model in DELETES_NAMING_DEPLOYMENTS},
}  # fmt: skip


class _Ones(dict[str, int]):
    def __missing__(self, key: str) -> int:
        return 1


def _read_above() -> set[str]:
    """The routes of the pages and /api answers the tests above read, by row."""
    paths = [path.format_map(_Ones()) for path in PARTS]
    paths += [path.format_map(_Ones()) for kind, _ in DETAILS for path in kind]
    return {resolve("/" + path.partition("?")[0]).route for path in paths}


def _answers_get(route: str, api: Client, console: Client) -> bool:
    """Whether a GET of ``route``, for a row that is not there, is answered other than
    with a 405 (a regular expression's route is taken to answer)."""
    if "^" in route or "(" in route:
        return True
    made = re.sub(r"<(?:(\w+):)?\w+>", lambda m: "9" if m[1] in ("int", "rowid") else "x9", route)
    return (api if route.startswith("api/") else console).get("/" + made).status_code != 405


def test_every_parameterised_get_is_read_or_exempt(settings: Any) -> None:
    """Each route with a path parameter that answers a GET is read by a test above (a
    row's page with one part and with six) or exempt, with why; an exemption names such
    a route, read by none of them."""
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    console = Client()
    console.force_login(User.objects.create_superuser("boss", password="pw-123456789"))
    read = _read_above()
    routes = [r for r in dict.fromkeys(_routes(get_resolver().url_patterns)) if r not in read]
    answering = {r for r in routes if _parameterised(r) and _answers_get(r, api, console)}
    stale = set(EXEMPT) - answering
    assert not stale, f"exempt, but read above or answering no GET: {sorted(stale)}"
    unread = answering - set(EXEMPT)
    assert not unread, f"read these in a test above, or exempt them with why: {sorted(unread)}"
