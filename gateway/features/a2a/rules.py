"""A2A agents as a resource: which agents a virtual key may call (``a2a.agent.call``)
and read the extended card of (``a2a.card.extended``), and who may write each field of
an agent (the field rules). Imported by the unit's ``register`` (``apps.py``)."""

from __future__ import annotations

from typing import Any

from gateway.access import field_rules, roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry
from gateway.features.a2a import snapshot

field_rules.declare(
    "a2a_agents",
    field_rules.same(
        field_rules.ADMIN,
        *("name", "description", "url", "auth", "bearer", "clear_bearer", "price_usd"),
        *("run_budget_usd", "session_budget_usd", "act_as_caller", "timeout", "enabled"),
        *("oauth_issuer", "oauth_client_id", "oauth_client_secret_ref", "oauth_scopes"),
    ),
)


def may_call(key: KeyEntry, agent: str) -> bool:
    grant = snapshot.granted(key)
    return "*" in grant or agent in grant


@rule("a2a.agent.call")
def agent_call(key: KeyEntry, agent: str) -> Decision:
    """Call an agent at ``/a2a/<agent>`` (its card, messages, tasks): a key whose
    ``a2a_allowed`` (within its team's) names the agent or ``*``; the master key any."""
    if may_call(key, agent):
        return ALLOW
    return deny(f"this API key may not call the agent {agent!r}")


@rule("a2a.oauth.connect")
def oauth_connect(actor: roles.Actor, agent: Any) -> Decision:
    """Connect (or disconnect) one's own OAuth authorization to an agent with ``auth``
    "oauth": anyone with a console role, for an enabled agent; only their own tokens are
    ever touched (as ``mcp.oauth.connect`` for MCP servers)."""
    if actor.role is None or actor.user_id is None:
        return deny("only a signed-in person connects their own account")
    if getattr(agent, "auth", "") != "oauth" or not getattr(agent, "enabled", False):
        return deny(f"the agent {agent} does not take per-person OAuth")
    return ALLOW


@rule("a2a.card.extended")
def extended_card(key: KeyEntry, agent: str) -> Decision:
    """Read an agent's extended card: a key granted the agent by name (a ``*`` grant
    reaches the public card only); the master key any."""
    if key.is_master or agent in snapshot.granted(key):
        return ALLOW
    return deny(f"this API key may not read the extended card of {agent!r}")
