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
          cost_per_query: 0.01               # LiteLLM's flat price per call
          max_budget_per_session: 5.0        # LiteLLM's dollar cap per session
        switchyard:                   # what LiteLLM has no field for
          run_budget_usd: 1.0
          act_as_caller: true
          auth: oauth                 # per-user OAuth, with its oauth_* fields
          oauth_issuer: https://login.example
          oauth_client_id: switchyard
          oauth_client_secret_ref: os.environ/HELPER_OAUTH_SECRET
          oauth_scopes: helper.read

The card written in the file is the agent's card (read with the SDK, never fetched at
import); ``url`` is where the gateway relays to. The operator's token is LiteLLM's
``litellm_params.api_key``, or its ``static_headers`` ``Authorization: Bearer ...``.
A price or budget the file leaves out is kept; ``null`` clears a budget. Agents LiteLLM
reaches through one of its own providers (``litellm_params.custom_llm_provider``:
LangGraph, Bedrock AgentCore...) are not A2A agents and are skipped, saying so. A
literal token is stored encrypted; an export writes it as an ``os.environ/`` reference
unless secrets are included; an OAuth client secret is only ever a reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from gateway.base.entries import same_named
from gateway.base.secrets import crypto
from gateway.features.a2a.save import check_card, check_references, check_security
from gateway.models import A2aAgent
from gateway.web import litellm_sections as kit

KNOWN = {
    *("agent_name", "agent_card_params", "litellm_params", "switchyard", "agent_id"),
    "static_headers",
}
OWN = {
    "price_usd",
    "run_budget_usd",
    "act_as_caller",
    "auth",
    *("oauth_" + n for n in ("issuer", "client_id", "client_secret_ref", "scopes")),
}
OAUTH_FIELDS = ("oauth_issuer", "oauth_client_id", "oauth_client_secret_ref", "oauth_scopes")
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
    # the budgets the file names (a budget absent is kept; None: cleared)
    budgets: dict[str, Decimal | None] = field(default_factory=dict)
    act_as_caller: bool | None = None
    oauth: dict[str, str] | None = None  # switchyard.auth "oauth": its oauth_* fields


def camel(value: Any) -> Any:
    """A card in LiteLLM's snake_case as A2A's JSON names it."""
    if isinstance(value, dict):
        return {CAMEL.get(k, k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def _bearer(reader: kit.Reader, entry: dict[str, Any], params: dict[str, Any], path: str) -> str:
    """The operator's token: ``litellm_params.api_key``, else LiteLLM's static
    ``Authorization: Bearer ...`` header (other static headers are not sent: warned)."""
    token = reader.reference_or_text(params.get("api_key"), f"{path}.litellm_params.api_key")
    headers = reader.string_map(entry.get("static_headers") or {}, f"{path}.static_headers")
    for name, value in headers.items():
        if name.lower() == "authorization" and value[:7].lower() == "bearer ":
            where = f"{path}.static_headers.{name}"
            token = token or reader.reference_or_text(value[7:].strip(), where)
        else:
            reader.warn(f"{path}.static_headers.{name}: not sent to the agent (only a bearer is)")
    return token


def _own(reader: kit.Reader, spec: AgentSpec, params: dict[str, Any], own: dict[str, Any]) -> None:
    """Prices and budgets (LiteLLM's spelling first, then ``switchyard:``), the agent's
    trust to act as its callers, and its per-user OAuth."""
    path = spec.path
    reader.unknown(f"{path}.switchyard", [k for k in own if k not in OWN])
    if params.get("cost_per_query") is not None:
        spec.price_usd = kit.dollars(
            params["cost_per_query"], f"{path}.litellm_params.cost_per_query"
        )
    elif own.get("price_usd") is not None:
        spec.price_usd = kit.dollars(own["price_usd"], f"{path}.switchyard.price_usd")
    if "max_budget_per_session" in params:
        value, where = (
            params["max_budget_per_session"],
            f"{path}.litellm_params.max_budget_per_session",
        )
        spec.budgets["session_budget_usd"] = None if value is None else kit.dollars(value, where)
    if "run_budget_usd" in own:
        value = own["run_budget_usd"]
        where = f"{path}.switchyard.run_budget_usd"
        spec.budgets["run_budget_usd"] = None if value is None else kit.dollars(value, where)
    spec.act_as_caller = reader.boolean(
        own.get("act_as_caller"), f"{path}.switchyard.act_as_caller"
    )
    auth = reader.string(own.get("auth"), f"{path}.switchyard.auth")
    if auth not in ("", "oauth"):
        raise kit.ConfigError(
            f"{path}.switchyard.auth: {auth!r} is not one (oauth, or leave it out)"
        )
    if auth == "oauth":
        if spec.bearer:
            raise kit.ConfigError(f"{path}: per-user OAuth and a bearer token at once")
        spec.oauth = {n: reader.string(own.get(n), f"{path}.switchyard.{n}") for n in OAUTH_FIELDS}
        secret = spec.oauth["oauth_client_secret_ref"]
        if secret and not secret.startswith("os.environ/"):
            raise kit.ConfigError(
                f"{path}.switchyard.oauth_client_secret_ref: an os.environ/NAME, never the secret"
            )
        reader.reference_or_text(secret, f"{path}.switchyard.oauth_client_secret_ref")
    elif any(own.get(n) for n in OAUTH_FIELDS):
        reader.warn(f"{path}.switchyard: oauth_* settings without auth: oauth are not used")


def parse(reader: kit.Reader, section: Any) -> list[AgentSpec]:
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
            spec.bearer = _bearer(reader, entry, params, path)
            own = reader.mapping(entry.get("switchyard") or {}, f"{path}.switchyard")
            _own(reader, spec, params, own)
            return spec

        spec = reader.guarded(path, read)
        if spec is not None:
            specs.append(spec)
    return specs


def _comparable(agent: A2aAgent) -> dict[str, Any]:
    return {
        **same_named(agent, "url card description auth"),
        "bearer": agent.bearer_ref or agent.bearer_ciphertext,
        **same_named(agent, "price_usd run_budget_usd session_budget_usd act_as_caller"),
        **{name: getattr(agent, name) for name in OAUTH_FIELDS},
    }


def _apply(spec: AgentSpec, agent: A2aAgent) -> None:
    """What the file says of the agent, on its row (what it leaves out kept)."""
    agent.url, agent.card, agent.description = spec.url, spec.card, spec.description
    if spec.price_usd is not None:
        agent.price_usd = spec.price_usd
    for name, amount in spec.budgets.items():
        setattr(agent, name, amount)
    if spec.act_as_caller is not None:
        agent.act_as_caller = spec.act_as_caller
    if spec.bearer:
        agent.auth = A2aAgent.Auth.BEARER
    elif spec.oauth is not None:
        agent.auth = A2aAgent.Auth.OAUTH
        for name, value in spec.oauth.items():
            setattr(agent, name, value)
    elif agent.auth != A2aAgent.Auth.OAUTH:  # a plain LiteLLM file cannot say it: kept
        agent.auth = A2aAgent.Auth.NONE


def plan_agent(spec: AgentSpec, existing: dict[str, A2aAgent], operator: bool) -> kit.Change:
    agent = existing.get(spec.name) or A2aAgent(name=spec.name)
    before = _comparable(agent) if agent.pk else None
    try:
        check_card(spec.card)
        check_security(spec.card)
        if not operator:  # judged as a console save
            values = {"url": spec.url, **(spec.oauth or {})}
            check_references(agent if agent.pk else None, values, spec.bearer)
    except ValidationError as exc:
        raise kit.ConfigError(f"{spec.path}: not imported: {kit.reasons(exc)}") from None
    _apply(spec, agent)
    if before is None or spec.bearer != agent.bearer_display:
        agent.set_bearer(spec.bearer)
    kit.validate(agent, spec.path)
    label = f"A2A agent {spec.name}"
    return kit.change(label, agent, before, _comparable(agent), spec.name, secret=("bearer",))


def plan_agents(
    specs: list[AgentSpec], operator: bool = False
) -> tuple[list[kit.Change], list[tuple[str, str]]]:
    existing = {a.name: a for a in A2aAgent.objects.all()}
    return kit.plan_each(specs, lambda spec: plan_agent(spec, existing, operator))


def _exported_token(agent: A2aAgent, include_secrets: bool, comments: list[str]) -> str:
    if agent.bearer_ref:
        return agent.bearer_ref
    if not agent.bearer_ciphertext:
        return ""
    if include_secrets:
        return crypto.decrypt(agent.bearer_ciphertext)
    name = kit.env_variable("A2A", agent.name, "TOKEN")
    comments.append(f"A2A agent {agent.name}: set {name} to its token")
    return f"os.environ/{name}"


def _exported(agent: A2aAgent, include_secrets: bool, comments: list[str]) -> dict[str, Any]:
    """One agent as LiteLLM writes it: its token, price and budget per session in
    ``litellm_params``; its budget per run, trust and per-user OAuth in ``switchyard``."""
    card = dict(agent.card) if isinstance(agent.card, dict) else {}
    card["url"] = agent.url
    entry: dict[str, Any] = {"agent_name": agent.name, "agent_card_params": card}
    params: dict[str, Any] = {}
    own: dict[str, Any] = {}
    token = _exported_token(agent, include_secrets, comments)
    if token:
        params["api_key"] = token
    if agent.price_usd:
        params["cost_per_query"] = float(agent.price_usd)
    if agent.session_budget_usd is not None:
        params["max_budget_per_session"] = float(agent.session_budget_usd)
    if agent.run_budget_usd is not None:
        own["run_budget_usd"] = float(agent.run_budget_usd)
    if agent.act_as_caller:
        own["act_as_caller"] = True
    if agent.auth == A2aAgent.Auth.OAUTH:
        own["auth"] = "oauth"
        own.update({name: getattr(agent, name) for name in OAUTH_FIELDS if getattr(agent, name)})
        comments.append(
            f"A2A agent {agent.name} takes each caller's own OAuth token, which LiteLLM "
            "cannot express: its OAuth settings are in its switchyard: block"
        )
    if params:
        entry["litellm_params"] = params
    if own:
        entry["switchyard"] = own
    return entry


def export_section(include_secrets: bool, comments: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for agent in A2aAgent.objects.all():
        if not agent.enabled:
            comments.append(f"A2A agent {agent.name} is disabled and not exported")
            continue
        out.append(_exported(agent, include_secrets, comments))
    return out


def secrets(spec: AgentSpec) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    others = [(f"{spec.path}.agent_card_params.url", spec.url)]
    for name, value in (spec.oauth or {}).items():
        others.append((f"{spec.path}.switchyard.{name}", value))
    return [(f"{spec.path}.litellm_params.api_key", spec.bearer)], others


SECTION = kit.Section(
    key="agents",
    what="A2A agent",
    model=A2aAgent,
    named_by=("a2a_allowed",),
    parse=parse,
    plan=plan_agents,
    export=export_section,
    secrets=secrets,
)
