"""A kind is one class: every fact about a provider kind is declared on its adapter
(``providers.base.DECLARED_FACTS``, and the rerank shape of a kind that serves rerank),
never looked up by name in a table elsewhere. Every registered kind states each one
itself (or its family base does: Gemini and Vertex AI), none takes another kind's by
inheriting it, and a kind that forgets one is refused when loaded, not served defaults.
The readers ask the adapter: documents (core.capabilities), catalog matching (the
catalog's callers), readiness (console), tracing names (tests/gateway/telemetry/
test_tracing.py) and the rerank body."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Message
from gateway.catalog import KindVendor
from gateway.codecs import CODECS
from gateway.core import capabilities
from gateway.providers import kinds
from gateway.providers.base import DECLARED_FACTS, Provider
from gateway.providers.codec_provider import CodecProvider
from gateway.providers.kinds import Keyless, Kind
from tests.gateway.entries import route

KIND_CLASSES = {name: kinds.adapter_class(name) for name in kinds.KINDS}


def owner(cls: type, fact: str) -> type | None:
    """The class in ``cls``'s MRO that declares ``fact`` (None: none does)."""
    return next((c for c in cls.__mro__ if fact in c.__dict__), None)


@pytest.mark.parametrize("name", list(kinds.KINDS))
def test_every_kind_declares_every_fact_itself(name: str) -> None:
    cls = KIND_CLASSES[name]
    assert cls.missing_facts() == [], name
    others = {c for n, c in KIND_CLASSES.items() if n != name}  # azure is an openai variant
    for fact in DECLARED_FACTS:
        declared_by = owner(cls, fact)
        assert declared_by not in (None, Provider, CodecProvider), (name, fact)
        assert declared_by not in others, f"{name} takes {fact} from {declared_by.kind}"
    assert isinstance(cls.documents, Accepts) and cls.trace_name
    assert cls.keyless is None or isinstance(cls.keyless, Keyless)


@pytest.mark.parametrize("name", list(kinds.KINDS))
def test_a_kind_that_serves_rerank_names_its_body_shape(name: str) -> None:
    cls = KIND_CLASSES[name]
    serves = cls.speaks is CODECS["openai"] or "rerank" in cls.also_serves
    assert bool(cls.rerank_shape) == serves, name
    assert cls.rerank_shape in ("", "openai", "cohere", "bedrock")


class Forgetful(CodecProvider):
    """A test-only kind that states some facts and forgets the trace name and, although
    it speaks OpenAI (so serves /v1/rerank), the rerank shape."""

    kind = "forgetful"
    speaks = CODECS["openai"]
    documents = Accepts()
    catalog_vendor = KindVendor()
    keyless = None


def test_a_kind_missing_a_fact_is_caught_and_refused_when_loaded(monkeypatch) -> None:
    assert Forgetful.missing_facts() == ["trace_name", "rerank_shape"]
    monkeypatch.setitem(kinds.KINDS, "forgetful", Kind("forgetful", "F", f"{__name__}:Forgetful"))
    monkeypatch.setattr(kinds, "_loaded", {})  # (what is loaded here is forgotten after)
    with pytest.raises(TypeError, match="declares no trace_name, rerank_shape"):
        kinds.adapter_class("forgetful")
    # control: the same class with the two facts is loaded and served
    monkeypatch.setattr(Forgetful, "trace_name", "forgetful", raising=False)
    monkeypatch.setattr(Forgetful, "rerank_shape", "openai")
    assert Forgetful.missing_facts() == []
    assert kinds.adapter_class("forgetful") is Forgetful


def on(kind: str) -> DeploymentEntry:
    d = route("r", "m").deployments[0]
    return dataclasses.replace(d, provider=dataclasses.replace(d.provider, kind=kind))


def test_documents_are_refused_as_the_kind_declares() -> None:
    docx = Document(media_type="application/msword", data="0M8R4A==")
    request = ChatRequest(model="r", messages=[Message("user", [docx])])
    for kind in ("openai", "bedrock"):  # control: these carry a Word file
        capabilities.check(request, route("r", "m"), on(kind), 10)
    with pytest.raises(InvalidRequest, match="Anthropic documents are PDFs or plain text"):
        capabilities.check(request, route("r", "m"), on("anthropic"), 10)


def test_the_catalog_vendor_is_the_kinds() -> None:
    assert kinds.catalog_vendor("vertex_ai").fixed == "vertex"
    assert kinds.catalog_vendor("openai").by_name == "openai"
    assert kinds.catalog_vendor("not-a-kind") == kinds.catalog_vendor("echo")
