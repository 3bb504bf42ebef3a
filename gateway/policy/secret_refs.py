"""``os.environ/NAME`` references in provider settings (secret, extra headers, base URL,
api version), resolved at call time. No Django: the adapters read it on every call, and
an unset variable is a ``MissingSecret`` naming it, never the value."""

from __future__ import annotations

import os
import re

from gateway.errors import MissingSecret

ENV_REFERENCE = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")


def resolve_secret(stored: str) -> str:
    """Resolve an ``os.environ/NAME`` reference (at call time) or return the literal.
    Also used for the other provider settings that may be references (base URL, api
    version)."""
    if not stored or not stored.startswith("os.environ/"):  # the common case: no regex
        return stored
    match = ENV_REFERENCE.match(stored or "")
    if not match:
        return stored
    name = match.group(1)
    value = os.environ.get(name)
    if value is None:
        raise MissingSecret(f"environment variable {name} is not set")
    return value
