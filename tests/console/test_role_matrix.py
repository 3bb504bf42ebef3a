"""The role matrix: every console URL and every /api route, for each role, allowed or
forbidden as issue #29 says; URLs come from the resolver and the API's own schema, so a
new page or route fails here until an expectation says who may use it.

A console page's expectation is written next to its tests (``ROLE_EXPECTATIONS`` in any
test module, tests/console/role_sets.py), collected here; the pages not yet in a feature
are expected below. The expectations are the oracle: the pages' declarations
(``gateway.web.pages``) are checked against them, never copied from them.

Roles: owner (everything), admin (everything but users and settings), editor (routes and
keys of their teams), member (own keys, the playground, own requests' logs), viewer
(read-only dashboards and logs of their teams). Forbidden: 403 (a page for the console,
JSON for /api); never a 500."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from console import nav
from gateway.access import roles
from gateway.edge.api import api
from gateway.models import ApiKey, Guardrail, Membership, Team
from gateway.web import pages
from tests.console.role_sets import (
    ADMINS,
    ALL,
    KEY_EDITORS,
    OWNERS,
    PUBLIC,
    READERS,
    ROUTE_EDITORS,
    A,
    E,
    Expectation,
    M,
    O,
    V,
)

# Console URL name -> (roles that may GET it, roles that may POST to it), or PUBLIC: the
# pages whose tests hold no expectation of their own.
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "dashboard": (ALL, ALL),
    "static": PUBLIC,
    "usage": (READERS, READERS),
    "usage-csv": (READERS, READERS),
    "catalog": (ALL, ALL),
    "providers": (READERS, ADMINS),
    "provider-create": (ADMINS, ADMINS),
    "provider-edit": (ADMINS, ADMINS),
    "provider-delete": (ADMINS, ADMINS),
    "provider-test": (ADMINS, ADMINS),
    "routes": (ALL, ROUTE_EDITORS),
    "route-create": (ROUTE_EDITORS, ROUTE_EDITORS),
    # add a model in one form; creating a provider there: provider.change (admins)
    "add-model": (ROUTE_EDITORS, ROUTE_EDITORS),
    "add-model-models": (ROUTE_EDITORS, ROUTE_EDITORS),
    "add-model-figures": (ROUTE_EDITORS, ROUTE_EDITORS),
    "config-import": (ADMINS, ADMINS),
    "config-export": (ADMINS, ADMINS),
    "deployment-health": (READERS, READERS),
    "route-edit": (ROUTE_EDITORS, ROUTE_EDITORS),
    "route-toggle": (ROUTE_EDITORS, ROUTE_EDITORS),
    "route-delete": (ROUTE_EDITORS, ROUTE_EDITORS),
    "deployment-create": (ROUTE_EDITORS, ROUTE_EDITORS),
    "deployment-models": (ROUTE_EDITORS, ROUTE_EDITORS),
    "deployment-edit": (ROUTE_EDITORS, ROUTE_EDITORS),
    "deployment-delete": (ROUTE_EDITORS, ROUTE_EDITORS),
    "keys": (ALL, KEY_EDITORS),
    "key-create": (KEY_EDITORS, KEY_EDITORS),
    "key-edit": (KEY_EDITORS, KEY_EDITORS),
    "key-revoke": (KEY_EDITORS, KEY_EDITORS),
    "logs": (ALL, ALL),
    "log-detail": (ALL, ALL),
    "session-detail": (ALL, ALL),
    "sessions": (ALL, ALL),  # the index: each reader sees sessions of the requests they may see
    # scores: anyone who sees a request scores it; judging a slice is the evaluations'
    "log-score": (ALL, ALL),
    "scores": (ALL, ADMINS),
    "scores-run": (ADMINS, ADMINS),
    # every team's traffic: shadow comparisons, spend, the audit log
    "route-shadow": (ADMINS, ADMINS),
    "route-shadow-scoring": (ADMINS, ADMINS),
    "spend": (READERS, READERS),  # below admin: its own keys' figures only
    "spend-csv": (READERS, READERS),
    # tag budgets, counted across every team's keys (as /api/tags)
    "tag-budget-save": (ADMINS, ADMINS),
    "tag-budget-delete": (ADMINS, ADMINS),
    # the providers' bills beside the journal: admins read, owners reconcile now
    "bills": (ADMINS, OWNERS),
    "audit": (ADMINS, ADMINS),
    "audit-export": (ADMINS, ADMINS),
}

TESTS = Path(__file__).resolve().parents[1]  # tests/
ROOT = TESTS.parent


def expectation_modules() -> list[str]:
    """Every test module that declares ``ROLE_EXPECTATIONS`` (found by reading, imported
    only when it does)."""
    found = []
    for file in sorted(TESTS.rglob("*.py")):
        if re.search(r"^ROLE_EXPECTATIONS\b", file.read_text(encoding="utf-8"), re.M):
            found.append(".".join(file.relative_to(ROOT).with_suffix("").parts))
    return found


def collected() -> dict[str, Expectation]:
    """Every page's expectation, from every module holding some; a page expected twice
    fails (one oracle per page)."""
    every: dict[str, Expectation] = {}
    for name in expectation_modules():
        for page, expected in importlib.import_module(name).ROLE_EXPECTATIONS.items():
            assert page not in every, f"{page} is expected in two places (one is {name})"
            every[page] = expected
    return every


# /api resource -> (roles that may read, roles that may write).
API = {
    "providers": (READERS, ADMINS),
    "routes": (ALL, ROUTE_EDITORS),
    "keys": (ALL, KEY_EDITORS),
    "logs": (ALL, ALL),
    "teams": (ALL, ADMINS),
    "users": (ADMINS, {O}),
    "user-limits": (ADMINS, ADMINS),
    "invites": (ADMINS, ADMINS),  # rule user.invite: an admin invites no owner
    "sso-removals": (ADMINS, {O}),  # removed SSO identities: owners let one in again
    "sign-in": (OWNERS, OWNERS),  # single sign-on settings: owners read and change them
    "spend": (ADMINS, ADMINS),
    "tags": (ADMINS, ADMINS),  # tag budgets: across every team's keys
    "dashboards": (ALL, KEY_EDITORS),  # pinned charts: rule dashboard.pin narrows to teams
    "alerts": (ADMINS, {O}),  # budget alerts: admins read, owners change
    "bill-drift": (ADMINS, OWNERS),  # the providers' bills: admins read, owners run it
    "cache-doctor": (ADMINS, ADMINS),  # prompt caching per route, key and session: read only
    "audit": (ADMINS, ADMINS),
    "mcp-servers": (ADMINS, ADMINS),
    "a2a-agents": (ADMINS, ADMINS),
    "guardrails": (ALL, ADMINS),  # any role reads them (secrets masked)
    "datasets": (ADMINS, ADMINS),
    "experiments": (ADMINS, ADMINS),
    "prompt-comparisons": (ADMINS, ADMINS),  # a prompt's versions on a dataset
    "evaluators": (ADMINS, ADMINS),  # continuous evaluators (console.evals.continuous)
    # review queues: reviewers (editors and above) read them, leads define and fill them
    "annotation-queues": (ROUTE_EDITORS, ADMINS),
    "score-configs": (ALL, ADMINS),  # what a score may hold: any role reads, leads change
    # any role reads prompts; playground users write (their own: rule prompt.change)
    "prompts": (ALL, KEY_EDITORS),
}
ORDER = [V, M, E, A, O]  # least first: what a higher role deletes is gone for nobody forbidden


def console_patterns() -> list[tuple[str, URLPattern]]:
    """(URL name, pattern) of every console URL, from the resolver."""
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns, namespace: str) -> None:  # type: ignore[no-untyped-def]
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and namespace == "console" and p.name:
                found.append((p.name, p))

    walk(get_resolver().url_patterns, "")
    return found


@pytest.fixture
def world(registry_rows) -> dict:
    """One user per role; editor, member and viewer in team "alpha" (whose route "chat"
    is); the member owns a key of alpha, which made the logged request."""
    alpha = Team.objects.create(name="alpha")
    registry_rows["route"].teams.set([alpha])
    users = {}
    for role in ORDER:
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        if role in (E, M, V):
            Membership.objects.create(user=user, team=alpha, role=role)
        users[role] = user
    spare = User.objects.create_user("spare", password="pw-123456789")
    key = ApiKey.objects.create(
        name="k", prefix="sy-x", key_hash="h" * 64, team=alpha, user=users[M]
    )
    registry_rows["log"].key_id = key.pk
    registry_rows["log"].session = "s-1"
    registry_rows["log"].save()
    guardrail = Guardrail.objects.create(
        name="pii",
        kind="litellm_content_filter",
        modes=["pre_call"],
        params={"blocked_words": ["secret"]},
    )
    return {
        **registry_rows,
        "team": alpha,
        "users": users,
        "spare": spare,
        "key": key,
        "guardrail": guardrail,
    }


def console_url(name: str, pattern: URLPattern, world: dict) -> str:
    values = {
        "pk": {
            "provider": world["provider"].pk,
            "route": world["route"].pk,
            "deployment": world["deployment"].pk,
            "key": world["key"].pk,
            "team": world["team"].pk,
            "user": world["spare"].pk,
            "playground": 1,
            "evals": 1,
            "mcp": 1,
            "a2a": 1,
            "guardrail": world["guardrail"].pk,
            "invite": 1,
            "alert": 1,
            "scores": 1,
            "tag": 1,  # a tag budget
            "dashboard": 1,  # a pinned chart
        },
        "name": "x1",
        "index": 0,
        "fmt": "csv",
        "request_id": "req-1",
        "session": "s-1",
        "batch_id": "batch_missing",
        "which": "output",
        "path": "console/console.css",
        "turn": 0,
        "item": 1,  # an annotation queue's item
        "column": 0,
        "run": 1,
        "token": "x1",
    }
    kwargs = {}
    for arg in pattern.pattern.converters:
        if arg == "pk":
            prefix = name.split("-")[0]
            if name.startswith("deployment-") and name not in ("deployment-create",):
                prefix = "deployment"
            if name == "deployment-create":
                prefix = "route"
            kwargs[arg] = values["pk"][prefix]
        else:
            kwargs[arg] = values[arg]
    return reverse(f"console:{name}", kwargs=kwargs)


def test_every_console_url_is_in_the_matrix() -> None:
    names = {name for name, _ in console_patterns()}
    expected = collected()
    assert names - set(expected) == set(), "a console page is missing from the matrix"
    assert set(expected) - names == set(), "the matrix lists a page that no longer exists"
    assert {"guardrails", "mcp", "prompts", "playground", "evals"} <= set(expected)
    assert len(expectation_modules()) >= 6  # this one and the pages' own tests


def test_every_console_url_is_a_declared_page() -> None:
    """The URLconf is the pages' declarations, each with its own view; the role policy
    asks the abilities each declares, and nothing else is declared."""
    declared = {page.name: page for page in pages.all()}
    patterns = dict(console_patterns())
    assert set(patterns) == set(declared)
    for name, pattern in patterns.items():
        assert pattern.callback is declared[name].view, name
        assert str(pattern.pattern) == declared[name].route, name
    assert {page.view_name for page in pages.all()} == set(roles.PAGES)


def test_an_undeclared_page_is_for_owners_only() -> None:
    console_patterns()  # the pages are declared as the URLconf is loaded (in any order of tests)
    assert roles.page_ability("console:nowhere", "GET") == "owner.only"
    assert roles.page_ability("console:login", "POST") is None


def test_public_pages_are_the_expected_ones() -> None:
    expected = collected()
    for page in pages.all():
        public = roles.page_ability(page.view_name, "GET") is None
        assert public == (expected[page.name] == PUBLIC), page.name


def test_each_role_sees_the_links_of_the_pages_it_may_open() -> None:
    """A nav link is shown to a role exactly when the role may GET its page (and has no
    other link there): the bar follows the expectations, not a table of its own."""
    expected = collected()
    for role in ORDER:
        actor = roles.Actor(role=role)
        shown = {link.href for section in nav.for_reader(actor.can, "") for link in section.links}
        for section in nav.sections():
            for link in section.links:
                name = link.url.removeprefix("console:")
                getters = expected[name][0] if expected[name] != PUBLIC else ALL
                hidden = bool(link.unless) and actor.can(link.unless)
                assert (link.href() in shown) == (role in getters and not hidden), (role, name)


def test_console_role_matrix(world) -> None:
    patterns = dict(console_patterns())
    failures = []
    for role in ORDER:
        client = Client()
        client.force_login(world["users"][role])
        for name, expected in collected().items():
            if expected == PUBLIC:
                continue
            getters, posters = expected
            url = console_url(name, patterns[name], world)
            for method, allowed in (("get", getters), ("post", posters)):
                response = getattr(client, method)(url)
                status = response.status_code
                if status >= 500:
                    failures.append(f"{role} {method.upper()} {url}: {status}")
                elif role in allowed and status == 403:
                    failures.append(f"{role} {method.upper()} {url}: 403, should be allowed")
                elif role not in allowed:
                    if status != 403:
                        failures.append(f"{role} {method.upper()} {url}: {status}, should be 403")
                    elif b"Not allowed" not in response.content:
                        failures.append(f"{role} {method.upper()} {url}: 403 without the page")
    assert failures == []


def test_a_user_without_a_role_gets_the_forbidden_page(world) -> None:
    client = Client()
    client.force_login(world["spare"])
    response = client.get("/")
    assert response.status_code == 403 and b"no role on this" in response.content


def api_paths() -> list[tuple[str, str]]:
    """(method, path template) of every /api operation, from the API's own schema."""
    schema = api.get_openapi_schema()
    return [(m, p) for p, ops in schema["paths"].items() for m in ops]


def flattened(patterns: list) -> list:
    """The URL patterns, those of a resolver (an API resource's mount) in its place."""
    return [
        each
        for pattern in patterns
        for each in (
            flattened(pattern.url_patterns) if hasattr(pattern, "url_patterns") else [pattern]
        )
    ]


def test_every_api_route_is_in_the_matrix() -> None:
    resources = {p.split("/")[2] for _, p in api_paths()}
    assert resources - set(API) == set()
    # Every /api URL of the resolver is one of the schema's operations.
    api_urls = [str(p.pattern) for p in flattened(api.urls[0])]
    # The docs and the schema: for anyone with a role (checked below).
    assert {u.split("/")[0] for u in api_urls if u} - set(API) == {"docs", "openapi.json"}


def test_api_docs_are_for_any_role(world) -> None:
    for role in ORDER:
        client = Client()
        client.force_login(world["users"][role])
        assert client.get("/api/openapi.json").status_code == 200, role
    client = Client()
    client.force_login(world["spare"])
    assert client.get("/api/openapi.json").status_code == 401


def api_url(template: str, world: dict) -> str:
    values = {
        "provider_id": world["provider"].pk,
        "route_id": world["route"].pk,
        "deployment_id": world["deployment"].pk,
        "key_id": world["key"].pk,
        "request_id": "req-1",
        "team_id": world["team"].pk,
        "tag_id": 1,  # a tag budget
        "username": "spare",
        "dataset_id": 1,
        "server_id": 1,
        "guardrail_id": 1,
        "agent_id": 1,
        "invite_id": 1,
        "removal_id": 1,
        "experiment_id": 1,
        "evaluator_id": 1,
        "config_id": 1,  # a score config
        "queue_id": 1,  # an annotation queue
        "alert_id": 1,
        "chart_id": 1,  # a pinned chart
        "index": 0,
        "n": 1,
        "name": "x1",  # a prompt
        "run": "0a1b2c3d",  # a prompt comparison
        "label": "production",
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


def test_api_role_matrix(world) -> None:
    failures = []
    for role in ORDER:
        client = Client()
        client.force_login(world["users"][role])
        for method, template in api_paths():
            readers, writers = API[template.split("/")[2]]
            allowed = readers if method == "get" else writers
            url = api_url(template, world)
            call = getattr(client, method)
            response = (
                call(url)
                if method == "get"
                else call(url, data="{}", content_type="application/json")
            )
            status = response.status_code
            if status >= 500:
                failures.append(f"{role} {method.upper()} {url}: {status}")
            elif role in allowed and status == 403:
                failures.append(f"{role} {method.upper()} {url}: 403 ({response.content!r})")
            elif role not in allowed and (status != 403 or "detail" not in response.json()):
                failures.append(f"{role} {method.upper()} {url}: {status}, should be 403")
    assert failures == []


def test_management_key_of_an_owner_works_and_others_do_not(world, settings) -> None:
    from gateway.access import keys

    settings.SWITCHYARD_MASTER_KEY = "sy-master-test-1234567890"
    owner_key = keys.create_key(name="auto", user=world["users"][O], scopes=["management"]).raw
    plain_key = keys.create_key(name="plain", user=world["users"][O]).raw
    member_key = keys.create_key(name="m", user=world["users"][M], scopes="management").raw
    client = Client()
    ok = client.get("/api/users/", HTTP_AUTHORIZATION=f"Bearer {owner_key}")
    assert ok.status_code == 200 and {u["username"] for u in ok.json()} >= {"owner", "spare"}
    made = client.post(
        "/api/teams/",
        data='{"name": "beta", "rpm_limit": 10}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {owner_key}",
    )
    assert made.status_code == 201 and made.json()["rpm_limit"] == 10
    for raw in (plain_key, member_key, "sy-not-a-key"):
        assert client.get("/api/users/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    # An admin's management key may not change users (403 JSON, not 401).
    admin_key = keys.create_key(name="a", user=world["users"][A], scopes="management").raw
    refused = client.patch(
        "/api/users/spare",
        data='{"role": "owner"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin_key}",
    )
    assert refused.status_code == 403 and "detail" in refused.json()
    master = client.get(
        "/api/teams/", HTTP_AUTHORIZATION=f"Bearer {settings.SWITCHYARD_MASTER_KEY}"
    )
    assert master.status_code == 200


def test_keys_api_carries_team_and_user(world) -> None:
    client = Client()
    client.force_login(world["users"][O])
    made = client.post(
        "/api/keys/",
        data='{"name": "svc", "team": "alpha", "user": "member"}',
        content_type="application/json",
    )
    assert made.status_code == 201
    assert made.json()["team"] == "alpha" and made.json()["user"] == "member"
    moved = client.patch(
        f"/api/keys/{made.json()['id']}", data='{"team": null}', content_type="application/json"
    )
    assert moved.json()["team"] is None


def test_member_creates_only_their_own_keys(world) -> None:
    client = Client()
    client.force_login(world["users"][M])
    mine = client.post("/api/keys/", data='{"name": "mine"}', content_type="application/json")
    # of their only team (a member's key is inside one of their teams: key.grant)
    assert mine.status_code == 201 and mine.json()["user"] == "member"
    assert mine.json()["team"] == "alpha"
    theirs = client.post(
        "/api/keys/", data='{"name": "x", "user": "owner"}', content_type="application/json"
    )
    assert theirs.status_code == 403
    listed = {k["name"] for k in client.get("/api/keys/").json()}
    assert listed == {"k", "mine"}


def test_route_teams_from_the_console(world) -> None:
    """An admin limits a route to teams on its form; an editor's new route is limited
    to the teams they edit, whatever the form says."""
    Team.objects.create(name="beta")
    admin = Client()
    admin.force_login(world["users"][A])
    route = world["route"]
    form = admin.get(f"/routes/{route.pk}/").content.decode()
    assert 'value="alpha"' in form and 'value="beta"' in form
    data = {"name": "chat", "strategy": "weighted", "max_attempts": 3, "enabled": "on"}
    saved = admin.post(f"/routes/{route.pk}/", {**data, "teams": ["beta"]})
    assert saved.status_code == 302
    assert [t.name for t in route.teams.all()] == ["beta"]
    editor = Client()
    editor.force_login(world["users"][E])
    # No longer one of alpha's routes: the editor may not change it now.
    assert editor.post(f"/routes/{route.pk}/", data).status_code == 403
    made = editor.post("/routes/new/", {**data, "name": "alpha-only", "teams": ["beta"]})
    assert made.status_code == 302
    from gateway.models import Route

    assert [t.name for t in Route.objects.get(name="alpha-only").teams.all()] == ["alpha"]
