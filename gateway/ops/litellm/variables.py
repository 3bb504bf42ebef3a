"""The environment variable names an export writes in place of stored secrets and
header values (``os.environ/NAME``); the planner recognises them when the export is
imported again, so that a round trip changes nothing."""

from __future__ import annotations

import re

from gateway.models import ENV_REFERENCE, Provider
from gateway.ops.litellm.prefixes import SECRET_VARIABLE_SUFFIX

# A shell-safe variable name from parts (the kit's: the units' sections name theirs too).
from gateway.web.litellm_sections import env_variable as env_variable


def secret_variables(providers: list[Provider]) -> dict[int, str]:
    """The environment variable ``export_config`` names for each provider whose secret
    is a stored literal: a valid shell identifier made from the provider's name
    (``my-azure.eu`` -> ``MY_AZURE_EU_API_KEY``; Bedrock ``..._SECRET_ACCESS_KEY``,
    Vertex AI ``..._CREDENTIALS``), unique, never one a reference uses."""
    taken = {
        match.group(1) for p in providers if (match := ENV_REFERENCE.match(p.secret_ref or ""))
    }
    names: dict[int, str] = {}
    for provider in sorted(providers, key=lambda p: p.pk):
        if provider.secret_ref or not provider.secret_ciphertext:
            continue
        stem = re.sub(r"[^A-Z0-9]+", "_", provider.name.upper()).strip("_")
        if not stem or stem[0].isdigit():
            stem = f"PROVIDER_{stem}".rstrip("_")
        what = SECRET_VARIABLE_SUFFIX.get(provider.kind, "API_KEY")
        name, n = f"{stem}_{what}", 1
        while name in taken:
            n += 1
            name = f"{stem}_{n}_{what}"
        taken.add(name)
        names[provider.pk] = name
    return names


def base_variable(provider: Provider) -> str:
    """The ``os.environ/`` name an export writes for a base URL that holds credentials."""
    return env_variable(provider.name, "API_BASE")
