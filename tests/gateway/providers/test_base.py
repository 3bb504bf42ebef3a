"""The adapter registry: every provider kind resolves to its adapter, whatever was
imported first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

ONE_ADAPTER_IMPORTED_FIRST = """
import django
django.setup()
import gateway.providers.anthropic  # registers itself, and only itself
from gateway.providers.base import adapter_for
from gateway.base.entries import ProviderEntry
for kind in ("openai", "azure", "anthropic", "echo"):
    entry = ProviderEntry(1, "p", kind, "http://upstream.test/v1", "", {}, "", None)
    print(kind, type(adapter_for(entry)).__name__)
"""


def test_every_kind_resolves_when_another_adapter_was_imported_first(tmp_path) -> None:
    """A process that had imported one adapter module (the Anthropic one, say) used to
    answer 500 "unknown kind 'openai'" for every OpenAI route."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "SWITCHYARD_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", ONE_ADAPTER_IMPORTED_FIRST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [
        "openai OpenAICompatibleProvider",
        "azure AzureOpenAIProvider",
        "anthropic AnthropicProvider",
        "echo EchoProvider",
    ]


def test_a_route_keeps_only_the_deployments_whose_adapter_has_the_asked_kind() -> None:
    import dataclasses

    from gateway.base.entries import ProviderEntry
    from gateway.core.realtime import RealtimeUpstream
    from gateway.providers.base import adapter_with, with_adapters
    from gateway.providers.openai_compatible import OpenAICompatibleProvider

    from ..entries import deployment, route

    both = route("r", "gpt-realtime", "claude")
    anthropic = ProviderEntry(2, "a", "anthropic", "http://a.test", "", {}, "", None)
    unknown = ProviderEntry(3, "u", "no-such-kind", "http://u.test", "", {}, "", None)
    claude = dataclasses.replace(both.deployments[1], provider=anthropic)
    both = dataclasses.replace(both, deployments=(both.deployments[0], claude))
    assert isinstance(adapter_with(both.deployments[0], RealtimeUpstream), OpenAICompatibleProvider)
    assert adapter_with(claude, RealtimeUpstream) is None
    assert adapter_with(deployment("r", "m", provider=unknown), RealtimeUpstream) is None
    assert with_adapters(both, RealtimeUpstream).deployments == both.deployments[:1]
    only = route("o", "gpt-realtime")
    assert with_adapters(only, RealtimeUpstream) is only
