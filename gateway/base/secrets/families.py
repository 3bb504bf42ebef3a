"""Where a host credential may be sent (M17). An ``os.environ/NAME`` reference saved from
the console or ``/api`` reads the host's environment: the operator's secrets. The allow
list (``secret_refs``) says which names may be read at all; this module says where what
they hold may go:

- a name of a known family (``FAMILIES``: ``AWS_*`` is AWS's, ``OPENAI_*`` OpenAI's...) goes
  only to that family's hosts, over https;
- any other name (``GUARD_API_KEY``, ``DOCS_MCP_TOKEN``: whose it is, nobody can tell) goes
  nowhere, unless
- the operator names the variable and the endpoint together in ``SWITCHYARD_ENV_ENDPOINTS``
  (``MY_KEY=https://llm.internal.example,OTHER_*=https://mcp.example.com/mcp``): the pair
  is allowed whatever the family, to that scheme, host and port (and path, if given).

Checked when a console or ``/api`` user saves a provider, deployment, MCP server or
guardrail (``gateway.web.references``), never at call time; the operator's own config file
(``import_config``, ``apply``) is trusted and not held to it. No Django: a table and two
functions; the setting is read per call (cached per value)."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

ENDPOINTS_SETTING = "SWITCHYARD_ENV_ENDPOINTS"


@dataclass(frozen=True, slots=True)
class Family:
    """A vendor's credentials: the variable names that hold them (``*`` patterns) and the
    hosts they are for (each the host itself or any host under it)."""

    label: str
    names: tuple[str, ...]
    hosts: tuple[str, ...]


FAMILIES: tuple[Family, ...] = (
    Family("AWS", ("AWS_*",), ("amazonaws.com", "amazonaws.com.cn")),
    Family(
        "Azure",
        ("AZURE_*",),
        (
            "openai.azure.com",
            "cognitiveservices.azure.com",
            "services.ai.azure.com",
            "inference.ai.azure.com",
        ),
    ),
    Family("OpenAI", ("OPENAI_*",), ("api.openai.com",)),
    Family("Anthropic", ("ANTHROPIC_*",), ("api.anthropic.com",)),
    Family("Google", ("GEMINI_*", "GOOGLE_*", "VERTEX_*", "VERTEXAI_*"), ("googleapis.com",)),
    Family("Mistral", ("MISTRAL_*", "CODESTRAL_*"), ("api.mistral.ai", "codestral.mistral.ai")),
    Family("Groq", ("GROQ_*",), ("api.groq.com",)),
    Family("DeepSeek", ("DEEPSEEK_*",), ("api.deepseek.com",)),
    Family("Together", ("TOGETHER_*", "TOGETHERAI_*"), ("api.together.xyz",)),
    Family("Fireworks", ("FIREWORKS_*",), ("api.fireworks.ai",)),
    Family("OpenRouter", ("OPENROUTER_*",), ("openrouter.ai",)),
    Family("xAI", ("XAI_*",), ("api.x.ai",)),
    Family("Perplexity", ("PERPLEXITY_*", "PERPLEXITYAI_*"), ("api.perplexity.ai",)),
    Family("Cohere", ("COHERE_*", "CO_API_KEY"), ("api.cohere.com", "api.cohere.ai")),
    Family("Cerebras", ("CEREBRAS_*",), ("api.cerebras.ai",)),
    Family("DeepInfra", ("DEEPINFRA_*",), ("api.deepinfra.com",)),
    Family("NVIDIA", ("NVIDIA_*",), ("integrate.api.nvidia.com",)),
    Family("Hugging Face", ("HF_*", "HUGGINGFACE_*"), ("huggingface.co",)),
    Family("GitHub", ("GITHUB_*",), ("api.github.com", "api.githubcopilot.com")),
)


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(map(re.escape, text.split("*"))) + "$")


@functools.cache
def _family_patterns() -> tuple[tuple[Family, tuple[re.Pattern[str], ...]], ...]:
    return tuple((f, tuple(_pattern(n) for n in f.names)) for f in FAMILIES)


def family_of(name: str) -> Family | None:
    """The family whose credentials ``name`` holds, None for a name of no family."""
    for family, patterns in _family_patterns():
        if any(p.match(name) for p in patterns):
            return family
    return None


def _under(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


@dataclass(frozen=True, slots=True)
class Pair:
    """One ``NAME=URL`` of the operator's ``SWITCHYARD_ENV_ENDPOINTS``."""

    name: re.Pattern[str]
    scheme: str
    host: str
    port: int | None
    path: str


@functools.lru_cache(maxsize=8)
def _pairs(raw: str) -> tuple[Pair, ...]:
    pairs: list[Pair] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, equals, url = item.partition("=")
        name, url = name.strip(), url.strip()
        if not equals or not re.fullmatch(r"[A-Za-z0-9_*]+", name):
            raise ValueError(f"{ENDPOINTS_SETTING}: {item!r} is not NAME=URL")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError(f"{ENDPOINTS_SETTING}: {item!r}: not a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{ENDPOINTS_SETTING}: {item!r}: the URL must be http(s)://host")
        pairs.append(
            Pair(_pattern(name), parts.scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))
        )
    return tuple(pairs)


def endpoints_setting() -> str:
    return os.environ.get(ENDPOINTS_SETTING, "")


def check_endpoints_setting() -> None:
    """Raise ``ValueError`` naming a malformed entry of ``SWITCHYARD_ENV_ENDPOINTS``."""
    _pairs(endpoints_setting())


def _paired(name: str, scheme: str, host: str, port: int | None, path: str) -> bool:
    try:
        pairs = _pairs(endpoints_setting())
    except ValueError:
        return False  # start-up refuses a malformed setting; here it pairs nothing
    for pair in pairs:
        if not pair.name.match(name) or (pair.scheme, pair.host, pair.port) != (scheme, host, port):
            continue
        if not pair.path or path == pair.path or path.startswith(pair.path + "/"):
            return True
    return False


def refusal(name: str, url: str) -> str | None:
    """Why what ``os.environ/name`` holds may not be sent to ``url`` (an endpoint as it
    will be called; "" when it cannot be known), or None when it may. The message names
    the variable, the host and the setting, never a value."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = urlsplit(""), None
    host = (parts.hostname or "").lower().rstrip(".")
    if host and _paired(name, parts.scheme, host, port, parts.path.rstrip("/")):
        return None
    pair = f"the operator may pair them in {ENDPOINTS_SETTING} ({name}={url or 'https://host'})"
    family = family_of(name)
    if not host:
        return f"os.environ/{name} goes to an endpoint that is not known when saved: {pair}"
    if family is None:
        return (
            f"os.environ/{name} is a host credential of no known vendor, so it goes to no "
            f"endpoint the console or /api names ({host}): {pair}"
        )
    if parts.scheme == "https" and any(_under(host, h) for h in family.hosts):
        return None
    return (
        f"os.environ/{name} is {family.label}'s credential and goes only to "
        f"{', '.join(family.hosts)} over https, not {host}: {pair}"
    )
