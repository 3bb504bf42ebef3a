"""A2A agents as a resource: which agents a virtual key may call (``a2a.agent.call``)
and read the extended card of (``a2a.card.extended``), and who may write each field of
an agent (the field rules). Imported by the unit's ``register`` (``apps.py``)."""

from __future__ import annotations

from gateway.access import field_rules
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry
from gateway.features.a2a import snapshot

field_rules.declare(
    "a2a_agents",
    field_rules.same(
        field_rules.ADMIN,
        *("name", "description", "url", "auth", "bearer", "clear_bearer", "price_usd"),
        *("run_budget_usd", "session_budget_usd", "act_as_caller", "timeout", "enabled"),
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


@rule("a2a.card.extended")
def extended_card(key: KeyEntry, agent: str) -> Decision:
    """Read an agent's extended card: a key granted the agent by name (a ``*`` grant
    reaches the public card only); the master key any."""
    if key.is_master or agent in snapshot.granted(key):
        return ALLOW
    return deny(f"this API key may not read the extended card of {agent!r}")
