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
