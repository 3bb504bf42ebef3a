"""What a provider may import: HTTP, auth and the upstream halves of codecs. Never the
ORM (``gateway.models``, ``django.db``), a codec's client half or the service, so an
adapter loads and runs without a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.gateway.import_walk import imports_of as _imports

PROVIDERS = Path(__file__).resolve().parents[3] / "gateway" / "providers"
MODULES = sorted(PROVIDERS.glob("*.py"))


def _forbidden(name: str) -> bool:
    if name.startswith(
        ("gateway.models", "django.db", "gateway.core.service", "gateway.edge.endpoints")
    ):
        return True
    parts = name.split(".")
    # gateway.codecs.<format>.inbound[.name]: the client half of a wire format.
    return parts[:2] == ["gateway", "codecs"] and len(parts) > 3 and parts[3] == "inbound"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_provider_imports_neither_the_orm_nor_a_client_half(path):
    bad = sorted(name for name in _imports(path) if _forbidden(name))
    assert not bad, f"{path.name} imports {bad}"


def test_the_check_recognises_what_it_forbids():
    assert _forbidden("gateway.models.resolve_secret")
    assert _forbidden("gateway.codecs.openai_chat.inbound.render_stream_error")
    assert not _forbidden("gateway.codecs.openai_chat.outbound")
    assert not _forbidden("gateway.base.secrets.secret_refs")


def test_loading_every_provider_loads_no_client_half():
    """What the import walk cannot see: a codec package (or anything else a provider
    reads) pulling a client half in on import. Run in a fresh interpreter."""
    names = [f"gateway.providers.{path.stem}" for path in MODULES if path.stem != "__init__"]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROVIDERS.parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "gateway.providers.openai_compatible" in loaded
    assert not [name for name in loaded if _forbidden(name)]
