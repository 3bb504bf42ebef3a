"""A route's semantic cache settings through /api/routes: read and written; refused when
saved, naming the field and why, when the embedding route does not exist, is not an
embedding route, is the route itself or is missing while a TTL is set, and for a client
API the gateway does not speak; an embedding route in use cannot be deleted."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.models import Deployment, Provider, Route

MASTER = "sy-master-semantic-api-test"


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    echo = Provider.objects.create(name="echo", kind="echo")
    embedder = Route.objects.create(name="embedder")
    Deployment.objects.create(route=embedder, provider=echo, model="text-embedding-3-small")
    custom = Route.objects.create(name="custom-embedder")
    Deployment.objects.create(
        route=custom, provider=echo, model="bge-m3", params={"mode": "embedding"}
    )
    chat = Route.objects.create(name="chat-only")
    Deployment.objects.create(route=chat, provider=echo, model="gpt-4o-mini")
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def create(api: Client, **fields) -> tuple[int, dict]:
    reply = api.post("/api/routes/", {"name": "faq", **fields}, content_type="application/json")
    return reply.status_code, reply.json()


def test_the_settings_are_read_and_written(api: Client) -> None:
    status, route = create(
        api,
        semantic_cache_ttl=600,
        semantic_cache_threshold=0.9,
        semantic_cache_scope="team",
        semantic_cache_route="embedder",
        semantic_cache_dialects=["openai", "anthropic"],
    )
    assert status == 201, route
    assert (route["semantic_cache_ttl"], route["semantic_cache_threshold"]) == (600, 0.9)
    assert route["semantic_cache_scope"] == "team"
    assert route["semantic_cache_route"] == "embedder"
    assert route["semantic_cache_dialects"] == ["openai", "anthropic"]
    patched = api.patch(
        f"/api/routes/{route['id']}",
        {"semantic_cache_route": "custom-embedder"},  # its params say it embeds
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["semantic_cache_scope"] == "team"  # left out: kept


def test_off_by_default_and_scoped_to_the_key(api: Client) -> None:
    status, route = create(api)
    assert status == 201
    assert route["semantic_cache_ttl"] == 0 and route["semantic_cache_scope"] == "key"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"semantic_cache_ttl": 60, "semantic_cache_route": "nowhere"}, "semantic_cache_route",
         "unknown route 'nowhere'"),
        ({"semantic_cache_ttl": 60, "semantic_cache_route": "chat-only"}, "semantic_cache_route",
         "route 'chat-only' is not an embedding route"),
        ({"semantic_cache_ttl": 60}, "semantic_cache_route", "name the embedding route"),
        ({"semantic_cache_ttl": 60, "semantic_cache_route": "faq"}, "semantic_cache_route",
         "a route cannot embed for itself"),
        ({"semantic_cache_route": "emb*"}, "semantic_cache_route", "not a pattern"),
        ({"semantic_cache_dialects": ["klingon"]}, "semantic_cache_dialects",
         "unknown client API(s): klingon"),
        ({"semantic_cache_threshold": 1.5}, "semantic_cache_threshold", ""),
        ({"semantic_cache_scope": "world"}, "semantic_cache_scope", ""),
    ],
)  # fmt: skip
def test_refused_when_saved_naming_the_field_and_why(
    api: Client, fields: dict, field: str, reason: str
) -> None:
    status, body = create(api, **fields)
    assert status == 422, body
    assert field in body["errors"]
    assert reason in " ".join(body["errors"][field])
    assert not Route.objects.filter(name="faq").exists()


def test_an_embedding_route_in_use_is_not_deleted(api: Client) -> None:
    status, _ = create(api, semantic_cache_ttl=60, semantic_cache_route="embedder")
    assert status == 201
    embedder = Route.objects.get(name="embedder")
    refused = api.delete(f"/api/routes/{embedder.pk}")
    assert refused.status_code in (409, 422), refused.content
    assert "semantic cache of faq" in refused.content.decode()
    assert Route.objects.filter(name="embedder").exists()
