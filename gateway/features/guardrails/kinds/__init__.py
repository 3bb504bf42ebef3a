"""The kinds of guardrail: each names itself as LiteLLM's ``litellm_params.guardrail``
does, validates its params when a guardrail is saved or imported (``validate``: an
unknown kind, a bad regex or a missing URL is refused with the field named, never
discovered at request time) and builds the ``Checker`` that runs it.

A checker answers a ``Verdict`` for a list of texts. ``local`` checkers run in this
process and cost microseconds (content filter, Presidio's pattern recognizers,
detect-secrets): a stream is checked at each delta. Others call a service (HTTP, or one
of the gateway's routes): a stream is checked a segment at a time."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.base.entries import GuardrailEntry, KeyEntry
from gateway.base.secrets.declared import Secrecy

Action = Literal["none", "blocked", "intervened"]
InputType = Literal["request", "response"]


class ConfigError(ValueError):
    """A guardrail's configuration is wrong: ``field`` names the setting (``params.patterns[1].pattern``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(slots=True)
class Verdict:
    """What a check found. ``texts``: the rewritten texts (``intervened``), one per text
    given, in order. ``entities``: what was found, by type (never the text itself)."""

    action: Action = "none"
    reason: str = ""
    texts: list[str] | None = None
    entities: tuple[str, ...] = ()


NONE = Verdict()  # a verdict of none a checker may answer (read, never changed)


@dataclass(slots=True)
class Context:
    """What a check may know of its request besides the texts: never the caller's
    secret (the key's name and alias only)."""

    input_type: InputType
    mode: str
    key: KeyEntry | None = None
    route: str = ""
    model: str = ""
    request_id: str = ""
    # the request's own settings for this guardrail ({name: {extra_body}} in its body)
    extra: Mapping[str, Any] = field(default_factory=dict)
    tool: str = ""  # pre_mcp_call: server__tool


class Checker:
    """Runs one guardrail. Subclasses implement ``check``; a local kind sets ``local``."""

    local = False  # in process and cheap: streams are checked at each delta
    # the longest text a match may span (a stream holds back this many characters)
    window = 64
    # new characters a stream gathers before a local check runs again (0: every delta);
    # a costlier local kind (Presidio, detect-secrets) checks every few deltas
    stream_step = 0

    def __init__(self, entry: GuardrailEntry) -> None:
        self.entry = entry

    async def check(self, texts: list[str], context: Context) -> Verdict:
        raise NotImplementedError

    def holds(self, text: str) -> int:
        """How many characters at the end of ``text`` (a streamed answer so far) may
        begin a match that goes on in text still to come: a stream holds them back (at
        most ``window``). Here all of them; a kind that knows its matches says less."""
        return len(text)

    def finds_nothing(self, text: str) -> bool:
        """Whether a check of ``[text]`` certainly finds nothing (no block, no rewrite,
        a verdict of none), known without running it: a stream's release then notes
        the check and skips it. Here never; a kind that knows its matches may say so."""
        return False

    def finds_nothing_in(self, texts: list[str]) -> bool:
        """``finds_nothing`` of each of ``texts`` (a request's: an agent's are hundreds),
        never True where one of them is False. A kind may answer for all at once."""
        finds_nothing = self.finds_nothing
        for text in texts:  # noqa: SIM110 (all() over a generator: a frame more a text)
            if not finds_nothing(text):
                return False
        return True

    async def close(self) -> None:
        """Release what the checker holds (connections); a new snapshot built anew."""


PLAIN, SECRET, URL, HEADERS = Secrecy.PLAIN, Secrecy.SECRET, Secrecy.URL, Secrecy.HEADERS


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind: its LiteLLM name, a label for the console, the modes it may run in,
    its params' validation (returns the params as stored) and its checker.

    ``params`` declares every param the kind reads and its secrecy
    (``gateway.base.secrets.declared``): sealing at rest, masking, export and audit
    follow from it, never from a param's name. A param no declaration names (a LiteLLM
    config's extra) is SECRET. URL params are where the guardrail sends what it checks
    (its endpoints: the host-credential rule judges references against them).
    ``tests/gateway/features/guardrails/kinds/test_secrecy.py`` fails for a param a kind reads
    without declaring it."""

    name: str
    label: str
    module: str  # gateway.features.guardrails.kinds.<module> (a plugin's: dotted), imported on first use
    modes: frozenset[str] = frozenset({"pre_call", "during_call", "post_call", "pre_mcp_call"})
    help: str = ""
    # params a guardrail of this kind may start from (the console's form offers them)
    example: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Secrecy] = field(default_factory=dict)

    def secrecy(self, param: str) -> Secrecy:
        """The declared secrecy of ``param``; SECRET when the kind does not declare it."""
        return self.params.get(param, Secrecy.SECRET)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The params that name where the guardrail sends its checks (the URL ones)."""
        return tuple(name for name, kind in self.params.items() if kind is Secrecy.URL)

    def _module(self) -> Any:
        """A dotted ``module`` is a plugin's own; a plain one is the gateway's."""
        name = (
            self.module
            if "." in self.module
            else f"gateway.features.guardrails.kinds.{self.module}"
        )
        return importlib.import_module(name)

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        validated: dict[str, Any] = self._module().validate(dict(params))
        return validated

    def request_settable(self, params: Mapping[str, Any]) -> frozenset[str]:
        """The settings a request may give a guardrail of this kind in its body's
        ``guardrails`` field (``{name: {extra_body}}``): none unless the kind's module
        says so from the guardrail's own params; what the params set is never among them."""
        found = getattr(self._module(), "request_settable", None)
        return frozenset(found(params)) if found is not None else frozenset()

    def build(self, entry: GuardrailEntry) -> Checker:
        factory: Callable[[GuardrailEntry], Checker] = self._module().Checker
        return factory(entry)


# The gateway's own kinds, put in force (``KINDS``) by the guardrails feature's plugin
# hook (``gateway.features.guardrails.plugin.guardrail_kinds``) through the door installed
# plugins use (``gateway.base.plugins``). Each kind's module is imported when a
# guardrail of that kind is first saved or run, so a deployment without Presidio
# guardrails never loads Presidio.
BUILT_IN: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "litellm_content_filter",
            "Content filter (words and patterns)",
            "content_filter",
            example={
                "patterns": [
                    {"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"},
                    {
                        "pattern_type": "regex",
                        "name": "ticket",
                        "pattern": "TCK-\\d{6}",
                        "action": "BLOCK",
                    },
                ],
                "blocked_words": [{"keyword": "project nightingale", "action": "BLOCK"}],
            },
            help="blocked words and regular expressions (prebuilt or your own), each BLOCK or MASK",
            params={"patterns": PLAIN, "blocked_words": PLAIN},
        ),
        Kind(
            "presidio",
            "PII (Presidio)",
            "presidio",
            example={
                "pii_entities_config": {"EMAIL_ADDRESS": "MASK", "CREDIT_CARD": "BLOCK"},
                "presidio_language": "en",
            },
            help="personal data found by Presidio, per entity MASK (as <ENTITY_TYPE>) or BLOCK",
            params={
                "pii_entities_config": PLAIN,
                "presidio_language": PLAIN,
                "presidio_score_thresholds": PLAIN,
                "output_parse_pii": PLAIN,
                "presidio_analyzer_api_base": URL,
                "presidio_anonymizer_api_base": URL,
            },
        ),
        Kind(
            "hide-secrets",
            "Secrets (detect-secrets)",
            "secrets",
            example={"action": "MASK"},
            help="API keys, tokens and private keys found by Yelp's detect-secrets: redact or refuse",
            params={"action": PLAIN, "plugins": PLAIN, "detect_secrets_config": PLAIN},
        ),
        Kind(
            "generic_guardrail_api",
            "External service (Generic Guardrail API)",
            "generic_api",
            example={
                "api_base": "https://guard.example.com",
                "api_key": "os.environ/GUARD_API_KEY",
            },
            help="your own or a vendor's service speaking LiteLLM's Generic Guardrail API",
            params={
                "api_base": URL,
                "api_key": SECRET,
                "headers": HEADERS,
                # the service's own settings, sent in the body: a credential goes in
                # api_key or headers, which are secret
                "additional_provider_specific_params": PLAIN,
                # the names of the settings a request may add (M13): names, no value
                "request_settable": PLAIN,
            },
        ),
        Kind(
            "openai_moderation",
            "Moderation (OpenAI-compatible, through a route)",
            "moderation",
            example={"route": "moderation", "categories": ["violence", "self-harm"]},
            help="an OpenAI-compatible /moderations endpoint reached through one of the gateway's routes",
            params={"route": PLAIN, "categories": PLAIN, "score_threshold": PLAIN},
        ),
        Kind(
            "llm_judge",
            "LLM judge (through a route)",
            "judge",
            example={"route": "llama-guard", "verdict_parser": "llama_guard"},
            help="a model on one of the gateway's routes (e.g. Llama Guard) judges the text",
            params={
                "route": PLAIN,
                "prompt_template": PLAIN,
                "verdict_parser": PLAIN,
                "block_pattern": PLAIN,
                "allow_pattern": PLAIN,
                "max_tokens": PLAIN,
            },
        ),
    )
}
# Every kind in force, by name: filled when the app starts (``register``).
KINDS: dict[str, Kind] = {}

ALL_MODES = ("pre_call", "during_call", "post_call", "pre_mcp_call")
FAILURE_POLICIES = ("fail_closed", "fail_open")


def register(kind: Kind) -> Kind:
    """Put ``kind`` in force (the gateway's own and plugins' alike, when the app
    starts: ``gateway.base.plugins``); ``ValueError`` when its name is taken."""
    if not isinstance(kind, Kind):
        raise ValueError(f"{kind!r} is not a gateway.features.guardrails.kinds.Kind")
    current = KINDS.get(kind.name)
    if current is not None and current is not kind:
        raise ValueError(f"guardrail kind {kind.name!r} is taken ({current.label})")
    KINDS[kind.name] = kind
    return kind


def unregister(kind: Kind) -> None:
    if KINDS.get(kind.name) is kind:
        del KINDS[kind.name]


def kind(name: str) -> Kind:
    found = KINDS.get(name)
    if found is None:
        raise ConfigError("kind", f"unknown guardrail kind {name!r}; known: {', '.join(KINDS)}")
    return found


def validate(
    kind_name: str, modes: Any, params: Any, *, timeout: Any = 5.0, fallback: Any = "fail_closed"
) -> tuple[list[str], dict[str, Any]]:
    """Check a guardrail's settings as one would save them: (modes, params as stored),
    or ``ConfigError`` naming the field. Modes may be one string or a list."""
    found = kind(kind_name)
    if isinstance(modes, str):
        modes = [modes]
    if not isinstance(modes, list) or not modes:
        raise ConfigError("mode", "give at least one mode: " + ", ".join(ALL_MODES))
    for mode in modes:
        if mode not in ALL_MODES:
            raise ConfigError("mode", f"unknown mode {mode!r}; known: {', '.join(ALL_MODES)}")
        if mode not in found.modes:
            raise ConfigError("mode", f"a {found.name} guardrail cannot run {mode}")
    if not isinstance(params, Mapping):
        raise ConfigError("params", "must be an object")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ConfigError("timeout", "must be a number of seconds between 0 and 300")
    if fallback not in FAILURE_POLICIES:
        raise ConfigError("unreachable_fallback", f"must be one of {', '.join(FAILURE_POLICIES)}")
    return list(dict.fromkeys(modes)), found.validate(params)


_checkers: dict[int, Checker] = {}


def checker(entry: GuardrailEntry) -> Checker:
    """The checker of ``entry``, built once per snapshot entry (a new snapshot, so a
    changed guardrail, builds anew; an unchanged one keeps its checker)."""
    found = _checkers.get(entry.id)
    if found is None or found.entry is not entry:
        if found is not None and found.entry == entry:
            found.entry = entry  # the same settings in a new snapshot
        else:
            found = _checkers[entry.id] = kind(entry.kind).build(entry)
    return found
