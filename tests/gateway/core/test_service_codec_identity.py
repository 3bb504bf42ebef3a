"""The service decides passthrough by codec identity (the codec the caller speaks *is*
the codec the upstream speaks) and reads every optional provider capability from a
declaration on ``providers.base.Provider``, never by probing an adapter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.base.entries import MASTER, ProviderEntry
from gateway.codecs import CODECS
from gateway.codecs.base import Codec
from gateway.codecs.openai_chat import OpenAIChatCodec
from gateway.core import jobs, service
from gateway.providers.openai_compatible import OpenAICompatibleProvider

# the pipeline's modules: the service, its jobs, its pumps and the request's state
SERVICE = "".join(
    (Path(service.__file__).parent / f"{name}.py").read_text()
    for name in ("service", "jobs", "pumps", "call")
)
ENTRY = ProviderEntry(5, "p", "openai", "http://up.test/v1", "sk-x", {}, "", None)


def _call(dialect: str) -> service.Call:
    return service.Call("chat", dialect, b"{}", service.Caller(key=MASTER))


def _adapter(speaks: Codec) -> OpenAICompatibleProvider:
    cls = type("Speaking", (OpenAICompatibleProvider,), {"kind": "openai", "speaks": speaks})
    return cls(ENTRY)


def test_the_same_codec_object_passes_through_whatever_the_dialect_is_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    openai = CODECS["openai"]
    assert jobs._passes_through(OpenAICompatibleProvider(ENTRY), _call("openai"))
    # the caller's path names the format otherwise (an alias in the path table's
    # terms): it is the same object, so the body still goes through untouched
    monkeypatch.setitem(CODECS, "openai-alias", openai)
    call = _call("openai-alias")
    assert call.codec is openai and call.record.dialect == "openai-alias"
    assert jobs._passes_through(OpenAICompatibleProvider(ENTRY), call)


def test_a_different_codec_with_the_same_name_is_translated_not_passed_through() -> None:
    lookalike = Codec("openai", "OpenAI lookalike", upstream=OpenAIChatCodec())
    assert lookalike.passes_through  # it could pass through: only identity says no
    adapter = _adapter(lookalike)
    assert adapter.dialect == "openai" and adapter.passes_through
    assert not jobs._passes_through(adapter, _call("openai"))


def test_a_codec_without_passthrough_translates_even_its_own_format() -> None:
    from gateway.providers.gemini import GeminiProvider

    gemini = ProviderEntry(6, "g", "gemini", "", "k", {}, "", None)
    call = _call("gemini")
    assert call.codec is CODECS["gemini"] is GeminiProvider.speaks
    assert not jobs._passes_through(GeminiProvider(gemini), call)


def test_the_service_probes_no_adapter() -> None:
    """Structural: capabilities are declared (``Provider.passes_through``,
    ``counts_tokens``, ``also_serves`` ...), formats compared by identity."""
    probes = [
        r"getattr\(\s*adapter",
        r"hasattr\(",
        r"is (not )?Provider\.",
        r"type\(adapter\)",
        r"\.dialect\s*[!=]=",
        r"codec\.name\s*[!=]=",
        r"CODECS\[",
    ]
    found = [p for p in probes if re.search(p, SERVICE)]
    assert not found, f"service.py still probes: {found}"


def test_the_service_rewrites_no_passed_through_body() -> None:
    """The model id and output ceiling of a passed-through body are written in one
    place (``providers.passthrough_body``), not in the service."""
    assert not re.search(r'"model":\s*deployment\.model', SERVICE)
    assert not re.search(r"\[\"model\"\]\s*=\s*deployment\.model", SERVICE)
    assert "max_output_tokens" not in SERVICE
