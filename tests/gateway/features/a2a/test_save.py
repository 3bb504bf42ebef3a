"""The one way an A2A agent is saved (``gateway.features.a2a.save``): where the card of a
registered URL is, the card fetched and checked (a card the SDK cannot read, one with no
interface, an answer that is no JSON: refused on ``url`` naming the host only), the
bearer sealed and needed for bearer auth, an OAuth client secret only as a reference,
the card fetched again only when the URL moves, and the card refreshed and deleted.

The fetch itself (``core.url_fetch``, its address checks) has its own tests; here it is
replaced by what the agent's host answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.core.exceptions import ValidationError

from gateway.base.secrets import crypto
from gateway.core import url_fetch
from gateway.features.a2a import save
from gateway.models import A2aAgent

CARD: dict[str, Any] = {
    "name": "echo",
    "version": "1",
    "description": "says it back",
    "supportedInterfaces": [
        {
            "url": "https://agents.example/echo",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }
    ],
    "capabilities": {},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [],
}
VALUES = {"name": "echo", "url": "https://agents.example/echo", "price_usd": 0, "timeout": 30.0}


class Host:
    """What the agent's host answers (``data``) and the URLs fetched from it."""

    def __init__(self) -> None:
        self.data = orjson.dumps(CARD)
        self.fetched: list[str] = []

    async def fetch(self, url: str, types: frozenset[str]) -> url_fetch.Fetched:
        assert types == save.JSON_TYPES
        self.fetched.append(url)
        return url_fetch.Fetched(self.data, "application/json")


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    answering = Host()
    monkeypatch.setattr(url_fetch, "fetch", answering.fetch)
    return answering


def test_the_card_url_of_a_base_url_or_a_card_url() -> None:
    assert save.card_url("https://a.example/x") == "https://a.example/x/.well-known/agent-card.json"
    assert (
        save.card_url("https://a.example/x/") == "https://a.example/x/.well-known/agent-card.json"
    )
    assert save.card_url("https://a.example/card.json") == "https://a.example/card.json"
    own = "https://a.example/.well-known/agent-card.json"
    assert save.card_url(own) == own


def test_a_card_the_sdk_cannot_read_or_with_no_interface_is_refused() -> None:
    save.check_card(dict(CARD))
    with pytest.raises(ValidationError, match="not an A2A agent card"):
        save.check_card({"name": 3})
    with pytest.raises(ValidationError, match="lists no interface"):
        save.check_card({**CARD, "supportedInterfaces": []})


async def test_the_card_is_fetched_from_its_url(host: Host) -> None:
    assert await save.fetch_card("https://agents.example/echo?token=t") == CARD
    assert host.fetched == ["https://agents.example/echo?token=t/.well-known/agent-card.json"]


@pytest.mark.parametrize("data", [b"<html>", b"[1, 2]"])
async def test_an_answer_that_is_no_card_is_refused_naming_the_host(
    host: Host, data: bytes
) -> None:
    host.data = data
    with pytest.raises(ValidationError) as refused:
        await save.fetch_card("https://agents.example/echo?token=secret")
    assert refused.value.message_dict == {"url": ["agents.example answered no JSON agent card"]}


async def test_a_refused_fetch_is_an_error_on_url(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fetch(url: str, types: frozenset[str]) -> url_fetch.Fetched:
        raise url_fetch.FetchRefused("agents.example is a private address")

    monkeypatch.setattr(url_fetch, "fetch", fetch)
    with pytest.raises(ValidationError, match="could not be fetched: agents.example is a private"):
        await save.fetch_card("https://agents.example/echo")
    with pytest.raises(ValidationError, match="not a valid URL"):
        await save.fetch_card("https://[::1")


@pytest.mark.django_db
def test_a_new_agent_is_saved_with_its_card_and_its_bearer_sealed(host: Host) -> None:
    agent = save.save_agent(None, {**VALUES, "auth": "bearer"}, bearer="s3cret")
    assert agent.pk is not None and agent.card == CARD and agent.card_fetched_at is not None
    assert agent.bearer_ref == "" and crypto.decrypt(agent.bearer_ciphertext) == "s3cret"
    assert len(host.fetched) == 1
    # the same URL again: the card is not fetched again; a new URL: it is
    save.save_agent(agent, {"description": "changed"})
    assert len(host.fetched) == 1
    save.save_agent(agent, {"url": "https://agents.example/echo2"})
    assert host.fetched[-1] == "https://agents.example/echo2/.well-known/agent-card.json"
    # the budgets are cleared by None, the other fields kept
    save.save_agent(agent, {"run_budget_usd": 2})
    save.save_agent(agent, {"run_budget_usd": None, "timeout": None})
    agent.refresh_from_db()
    assert agent.run_budget_usd is None and agent.timeout == 30.0


@pytest.mark.django_db
def test_bearer_auth_needs_a_token_and_a_client_secret_is_a_reference() -> None:
    with pytest.raises(ValidationError) as refused:
        save.save_agent(None, {**VALUES, "auth": "bearer"}, card=CARD)
    assert set(refused.value.message_dict) == {"bearer"}
    with pytest.raises(ValidationError) as refused:
        save.save_agent(None, {**VALUES, "oauth_client_secret_ref": "literal"}, card=CARD)
    assert set(refused.value.message_dict) == {"oauth_client_secret_ref"}
    assert not A2aAgent.objects.exists()
    saved = save.save_agent(
        None, {**VALUES, "oauth_client_secret_ref": "os.environ/AGENT_SECRET"}, card=CARD
    )
    assert saved.oauth_client_secret_ref == "os.environ/AGENT_SECRET"


@pytest.mark.django_db
def test_a_card_asking_for_auth_the_gateway_cannot_give_is_not_saved() -> None:
    mtls = {**CARD, "securitySchemes": {"cert": {"mtlsSecurityScheme": {}}}}
    with pytest.raises(ValidationError) as refused:
        save.save_agent(None, dict(VALUES), card=mtls)
    assert set(refused.value.message_dict) == {"auth"}
    assert not A2aAgent.objects.exists()


@pytest.mark.django_db
def test_the_card_is_refreshed_and_the_agent_deleted(host: Host) -> None:
    agent = save.save_agent(None, dict(VALUES), card=CARD)
    assert host.fetched == []
    host.data = orjson.dumps({**CARD, "description": "new"})
    save.refresh_card(agent)
    agent.refresh_from_db()
    assert agent.card["description"] == "new"
    save.delete_agent(agent)
    assert not A2aAgent.objects.exists()
