"""LiteLLM's ``agents:`` section in and out (its A2A agent registry).

LiteLLM's form, a list of agents::

    agents:
      - agent_name: helper
        agent_card_params:            # the agent's card, in LiteLLM's snake_case
          name: Helper
          description: Answers questions
          url: http://helper.internal:9999/
          capabilities: {streaming: true}
          skills: [{id: answer, name: Answer, description: Answers}]
        litellm_params:
          api_key: os.environ/HELPER_TOKEN   # sent to the agent as a bearer token
        switchyard:                   # what LiteLLM has no field for
          price_usd: 0.01

The card written in the file is the agent's card (read with the SDK, never fetched at
import); ``url`` is where the gateway relays to. Agents LiteLLM reaches through one of
its own providers (``litellm_params.custom_llm_provider``: LangGraph, Bedrock
AgentCore...) are not A2A agents and are skipped, saying so. A literal token is stored
encrypted; an export writes it as an ``os.environ/`` reference unless secrets are
included."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from gateway.base.secrets import crypto
from gateway.features.a2a.save import check_card, check_references
from gateway.models import A2aAgent
from gateway.web.litellm_sections import (
    Change,
    ConfigError,
    Reader,
    Section,
    env_variable,
    plan_each,
    validate,
)

KNOWN = {"agent_name", "agent_card_params", "litellm_params", "switchyard", "agent_id"}
CAMEL = {
    "default_input_modes": "defaultInputModes",
    "default_output_modes": "defaultOutputModes",
    "documentation_url": "documentationUrl",
    "icon_url": "iconUrl",
    "protocol_version": "protocolVersion",
    "preferred_transport": "preferredTransport",
    "additional_interfaces": "additionalInterfaces",
    "supports_authenticated_extended_card": "supportsAuthenticatedExtendedCard",
    "input_modes": "inputModes",
    "output_modes": "outputModes",
    "push_notifications": "pushNotifications",
    "state_transition_history": "stateTransitionHistory",
}


@dataclass(slots=True)
class AgentSpec:
    path: str
    name: str
    url: str
    card: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    bearer: str = ""
    price_usd: Decimal | None = None


def camel(value: Any) -> Any:
    """A card in LiteLLM's snake_case as A2A's JSON names it."""
    if isinstance(value, dict):
        return {CAMEL.get(k, k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def parse(reader: Reader, section: Any) -> list[AgentSpec]:
    specs: list[AgentSpec] = []
    for index, entry in enumerate(reader.sequence(section, "agents")):
        path = f"agents[{index}]"

        def read(entry: Any = entry, path: str = path) -> AgentSpec | None:
            entry = reader.mapping(entry, path)
            reader.unknown(path, [k for k in entry if k not in KNOWN])
            name = reader.string(entry.get("agent_name"), f"{path}.agent_name", required=True)
            params = reader.mapping(entry.get("litellm_params") or {}, f"{path}.litellm_params")
            if params.get("custom_llm_provider"):
                reader.warn(
                    f"{path}: agent {name!r} goes through LiteLLM's provider "
                    f"{params['custom_llm_provider']!r}, not A2A: not imported"
                )
                return None
            card = reader.mapping(entry.get("agent_card_params"), f"{path}.agent_card_params")
            url = reader.string(card.get("url"), f"{path}.agent_card_params.url", required=True)
            spec = AgentSpec(path=path, name=name, url=url, card=camel(dict(card)))
            spec.card.setdefault("name", name)
            spec.card.setdefault("version", "1.0.0")
            spec.description = reader.string(
                card.get("description"), f"{path}.agent_card_params.description"
            )[:300]
            spec.bearer = reader.reference_or_text(
                params.get("api_key"), f"{path}.litellm_params.api_key"
            )
            own = reader.mapping(entry.get("switchyard") or {}, f"{path}.switchyard")
            if own.get("price_usd") is not None:
                try:
                    spec.price_usd = Decimal(str(own["price_usd"]))
                except InvalidOperation:
                    raise ConfigError(f"{path}.switchyard.price_usd: not a number") from None
            return spec

        spec = reader.guarded(path, read)
        if spec is not None:
            specs.append(spec)
    return specs


def _comparable(agent: A2aAgent) -> dict[str, Any]:
    return {
        "url": agent.url,
        "card": agent.card,
        "description": agent.description,
        "auth": agent.auth,
        "bearer": agent.bearer_ref or agent.bearer_ciphertext,
        "price_usd": agent.price_usd,
    }


def plan_agent(spec: AgentSpec, existing: dict[str, A2aAgent], operator: bool) -> Change:
    agent = existing.get(spec.name) or A2aAgent(name=spec.name)
    before = _comparable(agent) if agent.pk else None
    try:
        check_card(spec.card)
        if not operator:  # judged as a console save
            check_references(agent if agent.pk else None, {"url": spec.url}, spec.bearer)
    except ValidationError as exc:
        reasons = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ConfigError(f"{spec.path}: not imported: {reasons}") from None
    agent.url, agent.card, agent.description = spec.url, spec.card, spec.description
    if spec.price_usd is not None:
        agent.price_usd = spec.price_usd
    if before is None or spec.bearer != agent.bearer_display:
        agent.set_bearer(spec.bearer)
    if spec.bearer:
        agent.auth = A2aAgent.Auth.BEARER
    elif agent.auth != A2aAgent.Auth.OAUTH:  # LiteLLM cannot say "per-user OAuth": kept
        agent.auth = A2aAgent.Auth.NONE
    validate(agent, spec.path)
    after = _comparable(agent)
    if before is None:
        action, fields = "create", {}
    else:
        fields = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
        if "bearer" in fields:
            fields["bearer"] = ("(stored)", "(new value)")
        action = "update" if fields else "unchanged"
    return Change(action, f"A2A agent {spec.name}", agent, fields, item=spec.name)


def plan_agents(
    specs: list[AgentSpec], operator: bool = False
) -> tuple[list[Change], list[tuple[str, str]]]:
    existing = {a.name: a for a in A2aAgent.objects.all()}
    return plan_each(specs, lambda spec: plan_agent(spec, existing, operator))


def export_section(include_secrets: bool, comments: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for agent in A2aAgent.objects.all():
        if not agent.enabled:
            comments.append(f"A2A agent {agent.name} is disabled and not exported")
            continue
        card = dict(agent.card) if isinstance(agent.card, dict) else {}
        card["url"] = agent.url
        entry: dict[str, Any] = {"agent_name": agent.name, "agent_card_params": card}
        if agent.bearer_ref:
            entry["litellm_params"] = {"api_key": agent.bearer_ref}
        elif agent.bearer_ciphertext:
            if include_secrets:
                entry["litellm_params"] = {"api_key": crypto.decrypt(agent.bearer_ciphertext)}
            else:
                name = env_variable("A2A", agent.name, "TOKEN")
                entry["litellm_params"] = {"api_key": f"os.environ/{name}"}
                comments.append(f"A2A agent {agent.name}: set {name} to its token")
        if agent.auth == A2aAgent.Auth.OAUTH:
            comments.append(
                f"A2A agent {agent.name} takes each caller's own OAuth token, which LiteLLM "
                "cannot express: its OAuth settings are not exported (an import keeps them)"
            )
        if agent.price_usd:
            entry["switchyard"] = {"price_usd": float(agent.price_usd)}
        out.append(entry)
    return out


def secrets(spec: AgentSpec) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return [(f"{spec.path}.litellm_params.api_key", spec.bearer)], [
        (f"{spec.path}.agent_card_params.url", spec.url)
    ]


SECTION = Section(
    key="agents",
    what="A2A agent",
    model=A2aAgent,
    named_by=("a2a_allowed",),
    parse=parse,
    plan=plan_agents,
    export=export_section,
    secrets=secrets,
)
