"""/api/a2a-agents: CRUD with the master key, the card fetched from a real agent (the
SDK's, on 127.0.0.1) when saved, the bearer write-only and sealed, validation (a URL
without a card), the snapshot rebuilt, each change an audit row."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.access import registry
from gateway.features.a2a import snapshot
from gateway.models import A2aAgent, AuditEvent
from tests.gateway.features.a2a import live_agents

MASTER = "sy-master-a2a-api-test"
TOKEN = "agent-bearer-Unmistakable-4471"


@pytest.fixture(scope="module")
def agents():  # type: ignore[no-untyped-def]
    with live_agents.running("echo") as ports:
        yield ports


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def test_requires_a_key(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    assert Client().get("/api/a2a-agents/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_crud_with_the_card_fetched_and_the_bearer_write_only(api: Client, agents) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{agents['echo']}/echo"
    created = api.post(
        "/api/a2a-agents/",
        {"name": "echo", "url": url, "auth": "bearer", "bearer": TOKEN, "price_usd": "0.01"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert TOKEN not in created.content.decode()
    assert body["card"]["name"] == "echo" and body["served_at"] == "/a2a/echo"
    row = A2aAgent.objects.get(name="echo")
    assert TOKEN not in row.bearer_ciphertext
    entry = registry.current().parts[snapshot.PART].agents["echo"]
    assert entry.bearer == TOKEN and entry.card["name"] == "echo"  # the snapshot, rebuilt

    # the mask sent back keeps the token; a new price is saved
    patched = api.patch(
        f"/api/a2a-agents/{row.pk}",
        {"bearer": body["bearer"], "price_usd": "0.02"},
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content
    assert registry.current().parts[snapshot.PART].agents["echo"].bearer == TOKEN
    assert api.post(f"/api/a2a-agents/{row.pk}/refresh").status_code == 200

    # a URL where no card is: refused naming the field, nothing saved
    missing = api.post(
        "/api/a2a-agents/",
        {"name": "nothing", "url": f"http://127.0.0.1:{agents['echo']}/nowhere"},
        content_type="application/json",
    )
    assert missing.status_code == 422 and "url" in missing.json()["errors"]
    assert not A2aAgent.objects.filter(name="nothing").exists()

    assert api.delete(f"/api/a2a-agents/{row.pk}").status_code == 204
    assert "echo" not in registry.current().parts[snapshot.PART].agents
    actions = list(
        AuditEvent.objects.filter(object_type="a2a_agent").values_list("action", flat=True)
    )
    assert actions[:1] and {"create", "delete"} <= set(actions), actions
    assert TOKEN not in str(list(AuditEvent.objects.values_list("changes", flat=True)))


@pytest.mark.django_db(transaction=True)
def test_a_private_address_is_refused_without_the_operators_allowance(
    api: Client, settings
) -> None:
    """The card is fetched under the gateway's outbound rules: a loopback or link-local
    address (the cloud metadata one) only when the operator allows it."""
    settings.SWITCHYARD_URL_FETCH_ALLOW = ""
    for url in ("http://169.254.169.254/latest/", "http://127.0.0.1:9/agent"):
        answer = api.post(
            "/api/a2a-agents/", {"name": "meta", "url": url}, content_type="application/json"
        )
        assert answer.status_code == 422, answer.content
        assert "could not be fetched" in answer.json()["errors"]["url"][0]
    assert not A2aAgent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_cards_security_schemes_are_read_and_an_unservable_one_refused(api: Client) -> None:  # type: ignore[no-untyped-def]
    with live_agents.running("guarded", "pinned") as ports:
        guarded = f"http://127.0.0.1:{ports['guarded']}/guarded"
        made = api.post(
            "/api/a2a-agents/",
            {"name": "guarded", "url": guarded, "auth": "oauth"},
            content_type="application/json",
        )
        assert made.status_code == 201, made.content
        read = made.json()["card_auth"]
        assert (read["kind"], read["refused"], read["scopes"]) == ("oauth", "", "read")
        assert read["authorization_url"] == "https://login.example/authorize"
        assert read["token_url"] == "https://login.example/token"
        assert read["issuer"] == "https://login.example"
        assert read["schemes"][0]["name"] == "sso"
        pinned = f"http://127.0.0.1:{ports['pinned']}/pinned"
        refused = api.post(
            "/api/a2a-agents/", {"name": "pinned", "url": pinned}, content_type="application/json"
        )
    assert refused.status_code == 422, refused.content
    (why,) = refused.json()["errors"]["auth"]
    assert (
        "securitySchemes.client-cert (mutual TLS): the gateway presents no client certificate"
        in why
    )
