"""The registered agents and every key's A2A grant, read into the snapshot
(``hooks.snapshot_parts``, called by ``gateway.access.registry.build_snapshot`` in a
thread): three queries per build, none per request. A key's grant is its own
``a2a_allowed`` within its team's (a team without a list does not restrict; ``*``: every
agent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.access import registry
from gateway.base.entries import KeyEntry, OAuthTarget, same_named
from gateway.base.secrets import crypto
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.features.a2a import wire
from gateway.models import A2aAgent, ApiKey, Team

PART = "a2a"
CONNECT_PATH = "/a2a-connections/"  # the console page where a person connects an agent


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """A registered agent. ``bearer``: the decrypted literal, or '' (then ``bearer_ref``,
    an ``os.environ/NAME`` reference resolved when calling)."""

    id: int
    name: str
    url: str
    card: dict[str, Any]
    auth: str
    bearer: str
    bearer_ref: str
    price_usd: Decimal
    timeout: float
    enabled: bool
    run_budget_usd: Decimal | None = None  # the most one run may spend (None: no bound)
    act_as_caller: bool = False  # its calls carry the caller's token (access.delegation)
    session_budget_usd: Decimal | None = None  # the most one session may spend (None: none)
    # auth "oauth": each caller's own token (``oauth_target``, hooks.upstream_oauth)
    oauth_issuer: str = ""
    oauth_client_id: str = ""
    oauth_client_secret_ref: str = ""  # an os.environ/NAME, resolved when used
    oauth_scopes: str = ""

    def oauth_target(self) -> OAuthTarget:
        """The agent as the shared OAuth machinery reads it: asked at its JSON-RPC
        interface (the discovery probe and the resource), else at its registered URL."""
        same = wire.same_host(self.url)
        url = (
            wire.upstream_url(self.card, wire.JSONRPC, wire.V1, same)
            or wire.upstream_url(self.card, wire.HTTP_JSON, wire.V1, same)
            or self.url
        )
        secret = (
            resolve_secret(self.oauth_client_secret_ref) if self.oauth_client_secret_ref else ""
        )
        return OAuthTarget(
            kind="agent",
            **same_named(self, "id name enabled oauth_issuer oauth_client_id oauth_scopes"),
            url=url,
            oauth_client_secret=secret or "",
            page=CONNECT_PATH,
        )


@dataclass(frozen=True, slots=True)
class Part:
    agents: dict[str, AgentEntry] = field(default_factory=dict)
    grants: dict[int, frozenset[str]] = field(default_factory=dict)  # by key id


EMPTY = Part()


def names(value: object) -> frozenset[str]:
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def within(own: frozenset[str], team: frozenset[str] | None) -> frozenset[str]:
    """A key's agents inside its team's bound (None: no bound)."""
    if team is None or "*" in team:
        return own
    if "*" in own:
        return team
    return own & team


def entry_of(agent: A2aAgent) -> AgentEntry:
    """The snapshot's entry of ``agent`` (the console's connect reads a row just saved)."""
    bearer = ""
    if agent.bearer_ciphertext:
        bearer = crypto.decrypt(agent.bearer_ciphertext)
    return AgentEntry(
        id=agent.pk,
        **same_named(agent, "name url auth bearer_ref timeout enabled act_as_caller oauth_issuer"),
        **same_named(agent, "oauth_client_id oauth_client_secret_ref oauth_scopes"),
        card=agent.card if isinstance(agent.card, dict) else {},
        bearer=bearer,
        price_usd=Decimal(agent.price_usd or 0),
        run_budget_usd=None if agent.run_budget_usd is None else Decimal(agent.run_budget_usd),
        session_budget_usd=(
            None if agent.session_budget_usd is None else Decimal(agent.session_budget_usd)
        ),
    )


def load() -> Part:
    agents = {a.name: entry_of(a) for a in A2aAgent.objects.all()}
    teams = {
        pk: (None if bound is None else names(bound))
        for pk, bound in Team.objects.values_list("id", "a2a_allowed")
    }
    grants = {}
    for pk, own, team_id in ApiKey.objects.values_list("id", "a2a_allowed", "team_id"):
        granted = within(names(own), teams.get(team_id) if team_id is not None else None)
        if granted:
            grants[pk] = granted
    return Part(agents, grants)


def current() -> Part:
    part = registry.current().parts.get(PART)
    return part if isinstance(part, Part) else EMPTY


def oauth_target(agent_id: int) -> OAuthTarget | None:
    """``hooks.oauth_targets["agent"]``: the OAuth target of an agent that takes each
    person's own token (None: no such agent, or another auth)."""
    for agent in current().agents.values():
        if agent.id == agent_id and agent.auth == "oauth":
            return agent.oauth_target()
    return None


def granted(key: KeyEntry) -> frozenset[str]:
    """The agents ``key`` may call (the master key: every one, ``*``)."""
    if key.is_master:
        return frozenset({"*"})
    if key.id is None:
        return frozenset()
    return current().grants.get(key.id, frozenset())
