"""The provider kinds: one line per kind, naming its label and the adapter class.

Adding a provider = its module under ``gateway/providers/`` (the class declares every
fact of the kind: ``providers.base.Provider`` lists them, and ``DECLARED_FACTS`` those it
must state itself, refused at load when missing) + one line in ``KINDS`` (+ its prefix in
``gateway.ops.litellm.prefixes``'s maps when LiteLLM has one). A kind from an installed
package comes through ``register`` (the plugin API's ``provider_kinds``,
``gateway.base.plugins``) when the app starts, and declares the same facts. The model's
``kind`` field takes its choices from ``choices`` (a callable, so a new kind changes no
migration); the console, the API, the catalog's callers and the pipeline read the rest
from the class.

This module imports no Django and no adapter: listing the kinds (a form's choices, the
model's validation) does not load every adapter, and an adapter's heavy client
(botocore, google-auth) stays unimported until a deployment of that kind is used.
``adapter_class`` imports the one module a kind names, when asked.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.base.numbers import ascii_int
from gateway.catalog.matching import KindVendor


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # stored in Provider.kind (at most 20 characters)
    label: str  # shown in the console and the API docs
    adapter: str  # "module:Class", imported by adapter_class when first needed


@dataclass(frozen=True, slots=True)
class Setting:
    """One of a kind's ``Provider.settings`` (LiteLLM's parameter name), a console field.
    ``check`` says why a value is refused ("" when it is fine); the model's clean asks
    it, so the console, the API and the import refuse the same values."""

    name: str
    label: str
    help: str = ""
    check: Callable[[str], str] | None = None

    def problem(self, value: str) -> str:
        """Why ``value`` is refused ("" if it is not; env references are read later)."""
        if self.check is None or not value.strip() or value.startswith("os.environ/"):
            return ""
        return self.check(value.strip())


SWITCH_ON = ("on", "true", "yes", "1")
SWITCH_OFF = ("off", "false", "no", "0")


def switch(value: str) -> str:
    """on/off (true/false, yes/no, 1/0)."""
    if value.lower() in SWITCH_ON + SWITCH_OFF:
        return ""
    return f"{value!r} is not on or off (on, off, true, false, yes, no, 1, 0)"


def fraction(value: str) -> str:
    """A share between 0 and 1 (0.5 = half)."""
    try:
        number = float(value)
    except ValueError:
        return f"{value!r} is not a number: a share between 0 and 1 (0.5 = half price)"
    if not 0 <= number <= 1:
        return f"{value} is not between 0 and 1 (0.5 = half price; 2 would be 200%)"
    return ""


def positive_integer(value: str) -> str:
    number = ascii_int(value)
    if number is None or number < 1:
        return f"{value!r} is not a whole number of at least 1"
    return ""


@dataclass(frozen=True, slots=True)
class FormHelp:
    """What the provider form says under each field for this kind; an empty
    ``api_version`` hides that field for the kind."""

    base_url: str = ""
    secret: str = ""
    api_version: str = ""
    secret_label: str = "Secret"


@dataclass(frozen=True, slots=True)
class Keyless:
    """How a provider of a kind may answer without a secret of its own (the console's
    readiness, ``console/readiness.py``): any one of ``settings`` (provider settings or
    deployment params) or ``variables`` (environment variables) set, or nothing at all
    when both are empty; ``plain_http``: only at an http:// base URL instead (a
    self-hosted server such as a local vLLM or Ollama)."""

    settings: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    plain_http: bool = False


# What providers whose upstream may have a batch API take (gateway/features/batches/upstreams).
BATCH_SETTINGS = (
    Setting(
        "native_batches",
        "Native batches",
        "on: batches go to the upstream's own batch API; off: the gateway runs them; "
        "empty: on for api.openai.com, Anthropic, and Bedrock with a batch S3 location "
        "and role.",
        check=switch,
    ),
    Setting(
        "batch_discount",
        "Batch discount",
        "Share off the token prices for a native batch (0.5 = half price); empty: the "
        "upstream's published discount (50% for OpenAI, Anthropic and Bedrock).",
        check=fraction,
    ),
)


def path_prefix_list(value: str) -> str:
    """Comma-separated API path prefixes (``/v1/models, /v1beta/cachedContents``): each
    starts with ``/`` and is a plain path, nothing a URL could read otherwise (no
    traversal, query, fragment, encoding, user info or spaces)."""
    prefixes = [item.strip() for item in value.split(",")]
    if len(prefixes) > MAX_PATH_PREFIXES:
        return f"at most {MAX_PATH_PREFIXES} path prefixes (this names {len(prefixes)})"
    for prefix in prefixes:
        problem = _prefix_problem(prefix)
        if problem:
            return f"{prefix!r} {problem}" if prefix else problem
    return ""


MAX_PATH_PREFIXES = 50
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+;=:/]*$")


def _prefix_problem(prefix: str) -> str:
    if not prefix:
        return "an empty path prefix (two commas in a row, or one at an end)"
    if not prefix.startswith("/"):
        return "does not start with / (a path such as /v1/models)"
    if "//" in prefix:
        return "has an empty segment (//)"
    if any(segment in (".", "..") for segment in prefix.split("/")):
        return "has a . or .. segment"
    if not _PLAIN_PATH.match(prefix):
        return (
            "holds a character a plain path does not (no query, fragment, %-encoding, @, "
            "\\ or spaces)"
        )
    return ""


def path_prefixes(value: str) -> tuple[str, ...]:
    """The prefixes ``passthrough_paths`` names (empty: every path); a value that
    ``path_prefix_list`` refuses raises ``ValueError`` saying why."""
    if not value.strip():
        return ()
    problem = path_prefix_list(value.strip())
    if problem:
        raise ValueError(problem)
    return tuple(item.strip() for item in value.split(","))


# What providers whose vendor API callers may reach as it is take (gateway/features/
# passthrough): whether they may, and where.
PASSTHROUGH_SETTINGS = (
    Setting(
        "passthrough",
        "Passthrough",
        "off (empty) or on: keys allowed a route on this provider reach its vendor's own "
        "API at /PREFIX/... (docs/providers.md, Passthrough).",
        check=switch,
    ),
    Setting(
        "passthrough_paths",
        "Passthrough paths",
        "Comma-separated path prefixes passthrough may reach (e.g. /v1/models, /v1/files); "
        "empty: every path of the API.",
        check=path_prefix_list,
    ),
)

_P = "gateway.providers."
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("openai", "OpenAI-compatible", _P + "openai_compatible:OpenAICompatibleProvider"),
        Kind("anthropic", "Anthropic", _P + "anthropic:AnthropicProvider"),
        Kind("azure", "Azure OpenAI", _P + "openai_compatible:AzureOpenAIProvider"),
        Kind("echo", "Echo (built-in test provider)", _P + "echo:EchoProvider"),
        Kind("gemini", "Gemini API", _P + "gemini:GeminiProvider"),
        Kind(
            "gemini_interactions",
            "Gemini Interactions API",
            _P + "gemini_interactions:GeminiInteractionsProvider",
        ),  # fmt: skip
        Kind("vertex_ai", "Vertex AI", _P + "vertex_ai:VertexAIProvider"),
        Kind("bedrock", "AWS Bedrock", _P + "bedrock:BedrockProvider"),
        Kind("cohere", "Cohere", _P + "cohere:CohereProvider"),
        Kind(
            "openai_responses",
            "OpenAI Responses API",
            _P + "openai_responses:OpenAIResponsesProvider",
        ),  # fmt: skip
    )
}


NAME_LIMIT = 20  # Provider.kind's max_length


def register(kind: Kind) -> Kind:
    """Add a kind (a plugin's: ``gateway.base.plugins``), refused by ``ValueError`` when
    its name is taken or too long for ``Provider.kind``, or its adapter cannot be
    imported or is not of that kind: at start-up, never when a provider is saved."""
    if not isinstance(kind, Kind):
        raise ValueError(f"{kind!r} is not a gateway.providers.kinds.Kind")
    if not kind.name or len(kind.name) > NAME_LIMIT:
        raise ValueError(f"provider kind name {kind.name!r}: 1 to {NAME_LIMIT} characters")
    current = KINDS.get(kind.name)
    if current is kind:
        return kind
    if current is not None:
        raise ValueError(f"provider kind {kind.name!r} is taken ({current.adapter})")
    _load(kind.name, kind.adapter)  # raises for a missing or mismatched adapter
    KINDS[kind.name] = kind
    return kind


def unregister(kind: Kind) -> None:
    """Take back a kind ``register`` added."""
    if KINDS.get(kind.name) is kind:
        del KINDS[kind.name]
        _loaded.pop((kind.name, kind.adapter), None)


def choices() -> list[tuple[str, str]]:
    """``(name, label)`` of every kind: ``Provider.kind``'s choices, read on each use."""
    return [(kind.name, kind.label) for kind in KINDS.values()]


def adapter_class(name: str) -> Any:
    """The adapter class (a ``providers.base.Provider`` subclass) of kind ``name``,
    its module imported on first use; None for a kind not in ``KINDS``."""
    kind = KINDS.get(name)
    return None if kind is None else _load(kind.name, kind.adapter)


_loaded: dict[tuple[str, str], Any] = {}


def _load(name: str, target: str) -> Any:
    cls = _loaded.get((name, target))
    if cls is None:
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if getattr(cls, "kind", None) != name:
            raise TypeError(f"{target} has kind {getattr(cls, 'kind', None)!r}, not {name!r}")
        missing = cls.missing_facts()
        if missing:  # never a default another kind chose: tests/.../test_kind_facts.py
            raise TypeError(f"{target} (kind {name!r}) declares no {', '.join(missing)}")
        _loaded[(name, target)] = cls
    return cls


def needs_base_url(name: str) -> bool:
    """Whether a provider of this kind must name its upstream (an unknown kind does)."""
    cls = adapter_class(name)
    return cls is None or cls.needs_base_url


def settings_taken(name: str) -> tuple[Setting, ...]:
    """The ``Provider.settings`` a kind takes (none for an unknown kind)."""
    cls = adapter_class(name)
    return () if cls is None else tuple(cls.settings_taken)


def catalog_vendor(name: str) -> KindVendor:
    """Which catalog vendor a kind's models are (an unknown kind: its host decides)."""
    cls = adapter_class(name)
    vendor: KindVendor = KindVendor() if cls is None else cls.catalog_vendor
    return vendor
