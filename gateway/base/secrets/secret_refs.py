"""``os.environ/NAME`` references in provider, deployment and MCP server settings (secret,
extra headers, base URL, api version, credential params, MCP bearer/headers/env), resolved
at call time. No Django: the adapters read it on every call, and an unset variable is a
``MissingSecret`` naming it, never the value.

Reading the environment is a host-level power, so only the operator decides which names
may be read: ``SWITCHYARD_ENV_ALLOW`` (comma-separated names and ``*`` patterns such as
``OPENAI_*`` or ``*_API_KEY``; ``DEFAULT_ALLOW`` when unset). The gateway's own settings
(``GATEWAY_NAMES``, anything ``SWITCHYARD_*`` or ``DJANGO_*``) are never read, whatever the
list says. A refused name is a ``RefusedReference`` (a ``MissingSecret``: the caller sees
a configuration error naming the variable and the setting, never the value).

``resolve_operator_value`` is for values the operator set in the environment itself (the
OIDC client id and secret): those may name any variable.

The operator's config file (``import_config``, ``apply``) is trusted with the host: the
rows it writes are marked ``from_operator``, and the registry hands the names their
references read to ``trust`` when it builds a snapshot. Such a name resolves whatever
the allow list says (never a gateway setting). A console or ``/api`` save of the same
name is still judged by the allow list and the host-credential rule
(``gateway.web.references``): trust is the operator's row's, not the name's to lend."""

from __future__ import annotations

import functools
import os
import re

from gateway.base.errors import MissingSecret

ENV_REFERENCE = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")
ALLOW_SETTING = "SWITCHYARD_ENV_ALLOW"
# Provider key names LiteLLM configs and this gateway's exports use; cloud credential
# families; MCP tokens. The operator widens or narrows it with SWITCHYARD_ENV_ALLOW.
DEFAULT_ALLOW = (
    "*_API_KEY,*_API_BASE,*_API_VERSION,*_BASE_URL,*_SECRET_ACCESS_KEY,*_CREDENTIALS,"
    "*_TOKEN,*_MCP_*,AWS_*,AZURE_*,VERTEX_*,VERTEXAI_*,GEMINI_*,GOOGLE_*,OPENAI_*,ANTHROPIC_*"
)
# The gateway's own settings: never resolved, even when the allow-list matches.
GATEWAY_NAMES = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "LOG_LEVEL",
    }
)
GATEWAY_PREFIXES = ("SWITCHYARD_", "DJANGO_")
_PATTERN = re.compile(r"^[A-Za-z0-9_*]+$")


_trusted: frozenset[str] = frozenset()


def trust(names: frozenset[str]) -> None:
    """The names the operator's own rows reference (the registry, at each snapshot):
    they resolve at call time whatever ``SWITCHYARD_ENV_ALLOW`` says."""
    global _trusted
    _trusted = frozenset(name for name in names if not gateway_setting(name))


def trusted(name: str) -> bool:
    return name in _trusted


class RefusedReference(MissingSecret):
    """An ``os.environ/NAME`` reference the operator does not allow (the message names
    the variable and what to change, never a value)."""


@functools.lru_cache(maxsize=8)
def _allow_list(raw: str) -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    names: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if not _PATTERN.match(item):
            raise ValueError(
                f"{ALLOW_SETTING}: {item!r} is not a variable name or a pattern with *"
            )
        if "*" in item:
            patterns.append(re.compile("^" + ".*".join(map(re.escape, item.split("*"))) + "$"))
        else:
            names.add(item)
    return frozenset(names), tuple(patterns)


def allow_setting() -> str:
    """The operator's allow-list as set (the default when unset)."""
    raw = os.environ.get(ALLOW_SETTING)
    return DEFAULT_ALLOW if raw is None else raw


def check_allow_setting() -> None:
    """Raise ``ValueError`` naming a malformed entry of ``SWITCHYARD_ENV_ALLOW``."""
    _allow_list(allow_setting())


def gateway_setting(name: str) -> bool:
    """Whether ``name`` is one of the gateway's own settings (never resolved)."""
    return name in GATEWAY_NAMES or name.upper().startswith(GATEWAY_PREFIXES)


def refusal(name: str) -> str | None:
    """Why ``os.environ/name`` may not be read (safe to show), or None if it may. Cached
    per allow-list and name: a request resolving references pays a dict lookup."""
    return _refusal(allow_setting(), name)


@functools.lru_cache(maxsize=1024)
def _refusal(raw: str, name: str) -> str | None:
    if gateway_setting(name):
        return (
            f"environment variable {name} is one of the gateway's own settings and is "
            "never read through os.environ/"
        )
    try:
        names, patterns = _allow_list(raw)
    except ValueError as exc:
        return str(exc)
    if name in names or any(p.match(name) for p in patterns):
        return None
    return f"environment variable {name} is not allowed: the operator may add it to {ALLOW_SETTING}"


def reference_name(value: object) -> str | None:
    """The variable an ``os.environ/NAME`` value names, None for anything else."""
    if not isinstance(value, str):
        return None
    value = value.strip()  # " os.environ/SECRET_KEY" is refused like the bare reference
    if not value.startswith("os.environ/"):
        return None
    match = ENV_REFERENCE.match(value)
    return match.group(1) if match else None


def references(values: object) -> list[str]:
    """The variable names of every ``os.environ/NAME`` in ``values`` (a string, or a
    dict/list of them, nested), in order."""
    if isinstance(values, dict):
        return [name for value in values.values() for name in references(value)]
    if isinstance(values, list | tuple):
        return [name for value in values for name in references(value)]
    name = reference_name(values)
    return [name] if name else []


def refusals(values: object) -> list[str]:
    """Why each reference in ``values`` (a string, or a dict/list of them, nested) is
    refused; empty when all may be read."""
    found: list[str] = []
    if isinstance(values, dict):
        for value in values.values():
            found += refusals(value)
    elif isinstance(values, list | tuple):
        for value in values:
            found += refusals(value)
    else:
        name = reference_name(values)
        reason = refusal(name) if name else None
        if reason:
            found.append(reason)
    return found


def resolve_secret(stored: str) -> str:
    """Resolve an ``os.environ/NAME`` reference (at call time) or return the literal.
    Also used for the other settings that may be references (base URL, api version,
    credential params, MCP headers and env). A name the operator does not allow is a
    ``RefusedReference``."""
    if not stored or not stored.startswith("os.environ/"):  # the common case: no regex
        return stored
    match = ENV_REFERENCE.match(stored or "")
    if not match:
        return stored
    name = match.group(1)
    reason = None if name in _trusted else refusal(name)
    if reason:
        raise RefusedReference(reason)
    return _read(name)


def resolve_operator_value(stored: str) -> str:
    """``resolve_secret`` for a value the operator set in the environment itself: any
    variable may be named."""
    match = ENV_REFERENCE.match(stored or "")
    return _read(match.group(1)) if match else stored


def _read(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise MissingSecret(f"environment variable {name} is not set")
    return value
