"""What a codec may import: the canonical types and helpers, ``codecs.base`` and its own
package. Never Django, a provider, the registry, the service or another codec (so a
codec loads and is tested without any of them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.import_walk import imports_of as _imports

CODECS = Path(__file__).resolve().parents[3] / "gateway" / "codecs"

# gateway modules every codec may read (documents: canonical document helpers).
SHARED = {
    "gateway.base.types",
    "gateway.base.errors",
    "gateway.base.streaming",
    "gateway.base.documents",
}
FORBIDDEN_ROOTS = ("django", "channels", "httpx", "console")

MODULES = sorted(CODECS.rglob("*.py"))


# Not codecs: what every codec may read (inbound_common: what every client half builds alike).
EVERY_CODEC = ("gateway.codecs.base", "gateway.codecs.inbound_common")
# Not codecs: modules several codecs of one family read (neither imports the other).
FAMILY = {
    "gateway.codecs.openai_common": (
        "gateway.codecs.openai_chat",
        "gateway.codecs.openai_responses",
    ),
    "gateway.codecs.google_common": ("gateway.codecs.gemini", "gateway.codecs.gemini_interactions"),
}


def _allowed(name: str, own: str) -> bool:
    if not name.startswith("gateway"):
        return not name.startswith(FORBIDDEN_ROOTS)
    if name in ("gateway", "gateway.base", "gateway.codecs"):
        return True
    if any(name == shared or name.startswith(shared + ".") for shared in SHARED):
        return True
    if any(name == m or name.startswith(m + ".") for m in EVERY_CODEC):
        return True
    for module, readers in FAMILY.items():
        if (name == module or name.startswith(module + ".")) and own in readers:
            return True
    return name == own or name.startswith(own + ".")


# The registry (``gateway/codecs/__init__.py``) is the one module that names every codec.
REGISTRY = CODECS / "__init__.py"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CODECS)))
def test_a_codec_imports_only_canonical_modules_and_its_own_package(path):
    relative = path.relative_to(CODECS).parts
    own = "gateway.codecs." + relative[0].removesuffix(".py")
    if path == REGISTRY:  # every codec package, and nothing outside gateway.codecs
        own = "gateway.codecs"
    bad = sorted(name for name in _imports(path) if not _allowed(name, own))
    # "from ... import documents" names gateway.base.documents via the alias: allowed above.
    assert not bad, f"{path.relative_to(CODECS)} imports {bad}"


def test_the_walk_sees_relative_imports():
    inbound = CODECS / "anthropic" / "inbound.py"
    names = _imports(inbound)
    assert "gateway.codecs.anthropic.maps" in names and "gateway.base.types" in names
    assert not _allowed("gateway.providers.wire", "gateway.codecs.anthropic")
    assert not _allowed("gateway.codecs.gemini.maps", "gateway.codecs.anthropic")
    assert not _allowed("django.db", "gateway.codecs.anthropic")
    assert _allowed("gateway.codecs.openai_common", "gateway.codecs.openai_responses")
    assert not _allowed("gateway.codecs.openai_common", "gateway.codecs.anthropic")
    assert not _allowed("gateway.codecs.openai_chat.inbound", "gateway.codecs.openai_responses")
