"""The one way an A2A agent is saved, shared by the console, the management API and the
LiteLLM import: ``save_agent`` (validated, the bearer sealed, references judged, the
card fetched), ``refresh_card`` and ``delete_agent``.

The card is fetched from the registered URL (a card URL, or a base URL with the card at
``/.well-known/agent-card.json`` under it) under the gateway's outbound rules
(``core.url_fetch``: every hop's addresses checked, pinned against DNS rebinding, the
size and time bounded): a private, loopback or link-local address only when the
operator lists it in ``SWITCHYARD_URL_FETCH_ALLOW``, as for every URL the gateway
fetches for a person. The card is parsed with the official SDK
(``a2a.client.card_resolver.parse_agent_card``: a card it cannot read is refused when
saved, never when called), and the gateway relays only to interfaces on the registered
host (``wire.upstream_url``). A card asking only for auth the gateway cannot give (mutual
TLS, an API key of its own...: ``security``) is refused on ``auth``, naming its scheme."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from gateway.base.secrets import secret_refs
from gateway.core import url_fetch
from gateway.features.a2a import security, wire
from gateway.models import A2aAgent
from gateway.web import references

FIELDS = (
    *("name", "description", "url", "auth", "price_usd", "run_budget_usd", "act_as_caller"),
    *("session_budget_usd", "timeout", "enabled"),
    *("oauth_issuer", "oauth_client_id", "oauth_client_secret_ref", "oauth_scopes"),
)
# None sent: no budget per run, per session
CLEARABLE = frozenset({"run_budget_usd", "session_budget_usd"})
JSON_TYPES = frozenset({"application/json", "application/a2a+json"})


def card_url(url: str) -> str:
    """Where the card of an agent registered at ``url`` is."""
    if url.rstrip("/").endswith((".json", wire.CARD_PATH)):
        return url
    return url.rstrip("/") + wire.CARD_PATH


async def fetch_card(url: str) -> dict[str, Any]:
    """The card published at ``url`` (its card or base URL), checked; ValidationError
    naming the host only (a query string may hold a token)."""
    target = card_url(url)
    try:
        host = httpx.URL(target).host
    except httpx.InvalidURL:
        raise ValidationError({"url": "not a valid URL"}) from None
    try:
        fetched = await url_fetch.fetch(target, JSON_TYPES)
    except url_fetch.FetchRefused as exc:
        raise ValidationError({"url": f"the agent card could not be fetched: {exc}"}) from None
    try:
        card = orjson.loads(fetched.data)
    except orjson.JSONDecodeError:
        raise ValidationError({"url": f"{host} answered no JSON agent card"}) from None
    if not isinstance(card, dict):
        raise ValidationError({"url": f"{host} answered no JSON agent card"})
    check_card(card)
    return card


def check_card(card: dict[str, Any]) -> None:
    """A card the official SDK reads, with an interface the gateway relays."""
    from a2a.client.card_resolver import parse_agent_card

    try:
        parse_agent_card(dict(card))
    except Exception as exc:  # noqa: BLE001 - the SDK's parse errors vary
        raise ValidationError({"url": f"not an A2A agent card ({type(exc).__name__})"}) from None
    if not wire.interfaces(card):
        raise ValidationError({"url": "the agent card lists no interface"})


def check_security(card: dict[str, Any]) -> None:
    """A card whose ``securitySchemes`` the gateway can serve one way or another (no
    auth, a bearer token, each caller's OAuth): else ValidationError on ``auth`` naming
    each scheme of the card and why (``security.read``)."""
    refused = security.read(card).refused
    if refused:
        raise ValidationError(
            {"auth": f"the agent card asks for auth the gateway cannot give: {refused}"}
        )


def check_references(agent: A2aAgent | None, values: dict[str, Any], bearer: str | None) -> None:
    """A person's save (``gateway.web.references``): an ``os.environ/`` bearer only where
    the operator allows it, judged with the URL it is sent to."""
    url = values.get("url") if values.get("url") is not None else getattr(agent, "url", "")
    kept = agent.bearer_ref if agent is not None else ""
    secret = values.get("oauth_client_secret_ref")
    if secret is None:
        secret = agent.oauth_client_secret_ref if agent is not None else ""
    sent = {"bearer": bearer if bearer is not None else kept, "oauth_client_secret": secret}
    before = None
    if agent is not None and agent.pk is not None:
        stored = {"bearer": agent.bearer_ref, "oauth_client_secret": agent.oauth_client_secret_ref}
        before = references.state({**stored, "url": agent.url}, [agent.url])
    references.judge(agent or A2aAgent(), sent, [url], {"url": url}, before)


def save_agent(
    agent: A2aAgent | None,
    values: dict[str, Any],
    *,
    bearer: str | None = None,
    card: dict[str, Any] | None = None,
) -> A2aAgent:
    """Create (``agent`` None) or change an agent from ``values`` (``FIELDS``; the masked
    URL keeps the stored one); ``bearer``: a literal (sealed) or ``os.environ/NAME``,
    None keeps it, '' clears it. The card is fetched when the agent is new or its URL
    changed (``card``: one already read, the LiteLLM import's); ValidationError."""
    agent = agent or A2aAgent()
    if agent.pk is not None and values.get("url") == agent.url_display:
        values = {**values, "url": agent.url}
    moved = agent.pk is None or (values.get("url") not in (None, agent.url))
    for name in FIELDS:
        if name in values and (values[name] is not None or name in CLEARABLE):
            setattr(agent, name, values[name])
    agent.set_bearer(bearer)
    if agent.auth == A2aAgent.Auth.BEARER and not (agent.bearer_ref or agent.bearer_ciphertext):
        raise ValidationError({"bearer": "a bearer token is needed for bearer auth"})
    ref = agent.oauth_client_secret_ref.strip()
    if ref and secret_refs.reference_name(ref) is None:
        raise ValidationError(
            {"oauth_client_secret_ref": "an operator's secret: os.environ/NAME, never the value"}
        )
    agent.full_clean(exclude=["card"])
    if card is not None:
        check_card(card)
        agent.card, agent.card_fetched_at = card, timezone.now()
    elif moved or not agent.card:
        agent.card = async_to_sync(fetch_card)(agent.url)
        agent.card_fetched_at = timezone.now()
    check_security(agent.card)
    with transaction.atomic():
        agent.save()
    return agent


def refresh_card(agent: A2aAgent) -> A2aAgent:
    """Fetch the agent's card again (it changed its skills or interfaces)."""
    card = async_to_sync(fetch_card)(agent.url)
    check_security(card)
    agent.card, agent.card_fetched_at = card, timezone.now()
    agent.save(update_fields=["card", "card_fetched_at", "updated_at"])
    return agent


def delete_agent(agent: A2aAgent) -> None:
    agent.delete()
