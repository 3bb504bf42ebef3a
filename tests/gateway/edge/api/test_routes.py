"""/api/routes and their deployments: CRUD with the master key, 401 without it."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.models import Deployment, Provider, Route

MASTER = "sy-master-api-test"


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    Provider.objects.create(name="echo", kind="echo")
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def test_requires_auth(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    assert Client().get("/api/routes/").status_code == 401
    assert (
        Client().post("/api/routes/", {"name": "x"}, content_type="application/json").status_code
        == 401
    )


def test_create_with_deployments_then_edit_and_delete(api: Client) -> None:
    created = api.post(
        "/api/routes/",
        {
            "name": "team/chat",
            "drop_params": False,
            "deployments": [
                {"provider": "echo", "model": "echo-1", "weight": 2, "output_price": "1.5"}
            ],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    route = created.json()
    assert route["drop_params"] is False
    assert route["deployments"][0]["provider"] == "echo"
    assert route["deployments"][0]["weight"] == 2
    rid = route["id"]

    added = api.post(
        f"/api/routes/{rid}/deployments",
        {"provider": "echo", "model": "echo-2"},
        content_type="application/json",
    )
    assert added.status_code == 201
    did = added.json()["id"]
    patched = api.patch(
        f"/api/routes/{rid}/deployments/{did}",
        {"enabled": False, "supports_reasoning": True},
        content_type="application/json",
    )
    assert patched.json()["enabled"] is False and patched.json()["supports_reasoning"] is True
    assert len(api.get(f"/api/routes/{rid}/deployments").json()) == 2

    renamed = api.patch(f"/api/routes/{rid}", {"enabled": False}, content_type="application/json")
    assert renamed.json()["enabled"] is False and renamed.json()["name"] == "team/chat"

    assert api.delete(f"/api/routes/{rid}/deployments/{did}").status_code == 204
    assert api.delete(f"/api/routes/{rid}").status_code == 204
    assert not Route.objects.exists() and not Deployment.objects.exists()


def test_errors_keyed_by_field_and_nothing_half_created(api: Client) -> None:
    response = api.post(
        "/api/routes/",
        {"name": "ok", "deployments": [{"provider": "nope", "model": "m"}]},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "deployments[0].provider" in response.json()["errors"]
    assert not Route.objects.exists()
    response = api.post(
        "/api/routes/", {"name": "a", "fallbacks": ["missing"]}, content_type="application/json"
    )
    assert response.status_code == 422 and "fallbacks" in response.json()["errors"]
    rid = api.post("/api/routes/", {"name": "b"}, content_type="application/json").json()["id"]
    bad = api.patch(
        f"/api/routes/{rid}/deployments/999", {"weight": 1}, content_type="application/json"
    )
    assert bad.status_code == 404
    neg = api.post(
        f"/api/routes/{rid}/deployments",
        {"provider": "echo", "model": "m", "weight": -1},
        content_type="application/json",
    )
    assert neg.status_code == 422 and "weight" in neg.json()["errors"]


def test_route_used_as_fallback_cannot_be_deleted(api: Client) -> None:
    target = Route.objects.create(name="base")
    Route.objects.create(name="top", fallbacks=["base"])
    response = api.delete(f"/api/routes/{target.pk}")
    assert response.status_code == 409
    assert Route.objects.filter(pk=target.pk).exists()


def test_route_timeout_is_set_cleared_and_validated(api: Client, snapshot_reset) -> None:
    from gateway.access import registry

    created = api.post(
        "/api/routes/",
        {"name": "slowpoke", "timeout": 5, "deployments": [{"provider": "echo", "model": "e"}]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    rid = created.json()["id"]
    assert created.json()["timeout"] == 5
    registry.rebuild()
    assert registry.current().route("slowpoke").deployments[0].provider.timeout == 5
    bad = api.patch(f"/api/routes/{rid}", {"timeout": 0.01}, content_type="application/json")
    assert bad.status_code == 422 and "timeout" in bad.json()["errors"]
    cleared = api.patch(f"/api/routes/{rid}", {"timeout": None}, content_type="application/json")
    assert cleared.status_code == 200 and cleared.json()["timeout"] is None
    assert Route.objects.get(pk=rid).timeout is None


def test_route_retry_budget_is_set_cleared_and_validated(api: Client, snapshot_reset) -> None:
    from gateway.access import registry

    created = api.post(
        "/api/routes/",
        {
            "name": "thrifty",
            "retry_budget": 0.5,
            "deployments": [{"provider": "echo", "model": "e"}],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    rid = created.json()["id"]
    assert created.json()["retry_budget"] == 0.5
    registry.rebuild()
    assert registry.current().route("thrifty").retry_budget == 0.5
    bad = api.patch(f"/api/routes/{rid}", {"retry_budget": -1}, content_type="application/json")
    assert bad.status_code == 422 and "retry_budget" in bad.json()["errors"]
    cleared = api.patch(
        f"/api/routes/{rid}", {"retry_budget": None}, content_type="application/json"
    )
    assert cleared.status_code == 200 and cleared.json()["retry_budget"] is None
    registry.rebuild()
    assert registry.current().route("thrifty").retry_budget is None  # the server's default


def test_cache_settings_are_read_and_written(api: Client) -> None:
    created = api.post(
        "/api/routes/",
        {"name": "cached", "cache_ttl": 300, "cache_scope": "key"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["cache_ttl"] == 300 and created.json()["cache_scope"] == "key"
    rid = created.json()["id"]
    patched = api.patch(f"/api/routes/{rid}", {"cache_ttl": 0}, content_type="application/json")
    assert patched.json()["cache_ttl"] == 0 and patched.json()["cache_scope"] == "key"
    bad = api.patch(f"/api/routes/{rid}", {"cache_scope": "world"}, content_type="application/json")
    assert bad.status_code == 422 and "cache_scope" in bad.json()["errors"]
    negative = api.patch(f"/api/routes/{rid}", {"cache_ttl": -5}, content_type="application/json")
    assert negative.status_code == 422 and "cache_ttl" in negative.json()["errors"]
    assert Route.objects.get(pk=rid).cache_ttl == 0


def test_deployment_top_k_capability_is_off_by_default_and_editable(api: Client) -> None:
    route = api.post("/api/routes/", {"name": "vllm"}, content_type="application/json").json()
    added = api.post(
        f"/api/routes/{route['id']}/deployments",
        {"provider": "echo", "model": "qwen"},
        content_type="application/json",
    )
    assert added.json()["supports_top_k"] is False
    patched = api.patch(
        f"/api/routes/{route['id']}/deployments/{added.json()['id']}",
        {"supports_top_k": True},
        content_type="application/json",
    )
    assert patched.json()["supports_top_k"] is True
    assert Deployment.objects.get(pk=added.json()["id"]).supports_top_k is True


def test_route_auto_cache_breakpoints_default_on_and_turned_off(
    api: Client, snapshot_reset
) -> None:
    from gateway.access import registry

    created = api.post(
        "/api/routes/",
        {"name": "agents", "deployments": [{"provider": "echo", "model": "e"}]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["auto_cache_breakpoints"] is True
    rid = created.json()["id"]
    off = api.patch(
        f"/api/routes/{rid}", {"auto_cache_breakpoints": False}, content_type="application/json"
    )
    assert off.status_code == 200 and off.json()["auto_cache_breakpoints"] is False
    registry.rebuild()
    assert registry.current().route("agents").auto_cache_breakpoints is False


def test_context_window_fallbacks_are_set_validated_and_protect_their_targets(
    api: Client,
) -> None:
    for name in ("mid", "big"):
        api.post("/api/routes/", {"name": name}, content_type="application/json")
    rid = api.post("/api/routes/", {"name": "small"}, content_type="application/json").json()["id"]
    assert api.get(f"/api/routes/{rid}").json()["context_window_fallbacks"] == []
    changed = api.patch(
        f"/api/routes/{rid}",
        {"context_window_fallbacks": ["mid", "big"]},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert changed.json()["context_window_fallbacks"] == ["mid", "big"]
    assert Route.objects.get(pk=rid).context_window_fallbacks == ["mid", "big"]
    unknown = api.patch(
        f"/api/routes/{rid}",
        {"context_window_fallbacks": ["nope"]},
        content_type="application/json",
    )
    assert unknown.status_code == 422
    assert "unknown route(s): nope" in str(unknown.json()["errors"]["context_window_fallbacks"])
    big = Route.objects.get(name="big")
    assert api.delete(f"/api/routes/{big.pk}").status_code == 409  # small falls back to it


def _routes_with_teams(count: int) -> None:
    from gateway.models import Team

    echo = Provider.objects.get(name="echo")
    for n in range(count):
        route = Route.objects.create(name=f"n1/route-{n}")
        route.teams.add(Team.objects.get_or_create(name=f"team-{n}")[0])
        for model in ("echo-1", "echo-2"):
            Deployment.objects.create(route=route, provider=echo, model=model)


def test_listing_routes_costs_the_same_queries_for_one_route_or_many(api: Client) -> None:
    """Deployments, their providers and teams come prefetched: no query a route."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _routes_with_teams(1)
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/routes/").json()) == 1
    _routes_with_teams(0)
    for n in range(1, 6):
        route = Route.objects.create(name=f"n5/route-{n}")
        Deployment.objects.create(route=route, provider_id=Provider.objects.get().pk, model="m")
    with CaptureQueriesContext(connection) as six:
        listed = api.get("/api/routes/").json()
    assert len(listed) == 6 and listed[0]["teams"] == ["team-0"]
    assert listed[0]["deployments"][0]["provider"] == "echo"
    assert len(six.captured_queries) == len(one.captured_queries), [
        q["sql"][:120] for q in six.captured_queries
    ]
