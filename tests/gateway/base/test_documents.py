"""What each upstream kind can carry (its adapter's ``documents``), the catalog's ``pdf``
check naming the content type, and how documents count toward the token estimate."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from gateway.base import documents
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Message, Text, ToolResult
from gateway.catalog.entry import Entry
from gateway.codecs.bedrock import maps as bedrock_maps
from gateway.core import capabilities, tokens
from gateway.providers import kinds
from tests.gateway.entries import deployment, route

PDF = Document(media_type="application/pdf", data="JVBERi0=")
PDF_URL = Document(media_type="application/pdf", url="https://x.test/a.pdf")
DOCX = Document(media_type="application/msword", data="0M8R4A==")
TEXT = Document(media_type="text/plain", text="notes")
KINDS = ["openai", "azure", "anthropic", "gemini", "vertex_ai", "bedrock", "cohere"]
CARRIES = {  # kind -> (pdf, pdf by url, .doc); OpenAI and Bedrock: the gateway fetches URLs
    "openai": (True, True, True),
    "azure": (True, True, True),
    "anthropic": (True, True, False),
    "gemini": (True, True, True),
    "vertex_ai": (True, True, True),
    "bedrock": (True, True, True),
    "cohere": (False, False, False),
    "openai_responses": (True, True, True),
}


@pytest.mark.parametrize("kind", list(CARRIES))
def test_what_each_upstream_kind_carries(kind: str) -> None:
    accepts = kinds.adapter_class(kind).documents  # what the kind's adapter declares
    carried = tuple(accepts.refusal(d) is None for d in (PDF, PDF_URL, DOCX))
    assert carried == CARRIES[kind]
    assert accepts.refusal(TEXT) is None  # text goes everywhere


def test_text_media_types_decode_to_text_and_bad_utf8_stays_data() -> None:
    text = base64.b64encode("grüße".encode()).decode()
    assert documents.from_base64(text, "text/csv", "a.csv") == Document(
        media_type="text/csv", text="grüße", filename="a.csv"
    )
    latin = base64.b64encode("grüße".encode("latin-1")).decode()
    assert documents.from_base64(latin, "text/plain").data == latin


def test_content_type_and_names() -> None:
    assert PDF.content_type() == "application/pdf" and PDF.name() == "document.pdf"
    assert PDF_URL.content_type() == "application/pdf by URL"
    assert DOCX.name() == "document.msword" and TEXT.content_type() == "text/plain"


def chat(*parts) -> ChatRequest:
    return ChatRequest(model="public", messages=[Message("user", list(parts))])


def test_a_model_without_pdf_input_is_refused_naming_the_content_type_not_for_text() -> None:
    dep = deployment("public", "small", catalog=Entry(vendor="openai", model="small"))
    assert dep.supports("pdf") is False
    entry = route("public", "small")
    with pytest.raises(InvalidRequest) as caught:
        capabilities.check(chat(Text("hi"), PDF), entry, dep, 10)
    assert "'public'" in caught.value.message and "application/pdf" in caught.value.message
    with pytest.raises(InvalidRequest):  # a PDF in a tool result counts too
        capabilities.check(chat(ToolResult("t", [PDF])), entry, dep, 10)
    capabilities.check(chat(TEXT), entry, dep, 10)  # text reaches any model


def test_an_upstream_kind_that_cannot_carry_a_document_is_refused_before_the_call() -> None:
    entry = route("public", "up")
    provider = dataclasses.replace(entry.deployments[0].provider, kind="cohere")
    dep = deployment("public", "up", provider=provider)
    with pytest.raises(InvalidRequest) as caught:
        capabilities.check(chat(PDF), entry, dep, 10)
    assert caught.value.status == 400
    assert "'public'" in caught.value.message and "application/pdf" in caught.value.message


def pdf_of(pages: int) -> str:
    body = b"".join(b"%d 0 obj << /Type /Page /Parent 1 0 R >> endobj\n" % i for i in range(pages))
    return base64.b64encode(b"%PDF-1.7\n<< /Type /Pages /Count 3 >>\n" + body).decode()


def test_a_pdf_counts_by_its_pages_and_a_text_document_by_its_text() -> None:
    assert tokens.pdf_pages(pdf_of(3)) == 3
    assert tokens.pdf_pages("not base64 at all!") == 1
    base = tokens.estimate_tokens(chat(Text("hi")))
    with_pdf = tokens.estimate_tokens(chat(Text("hi"), Document(data=pdf_of(3))))
    assert with_pdf - base == 3 * tokens.PDF_PAGE_TOKENS
    in_result = tokens.estimate_tokens(
        chat(Text("hi"), ToolResult("t", [Document(data=pdf_of(2))]))
    )
    assert in_result - base == 2 * tokens.PDF_PAGE_TOKENS
    long_text = "word " * 400
    assert tokens.estimate_tokens(chat(Document(text=long_text))) > 300


def test_page_counts_are_remembered_for_the_same_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pdf_of(4)
    assert tokens.pdf_pages(data) == 4

    def no_decoding(*args: object) -> bytes:
        raise AssertionError("decoded again")

    monkeypatch.setattr(tokens.base64, "b64decode", no_decoding)
    assert tokens.pdf_pages(data) == 4
    with pytest.raises(AssertionError):  # another PDF is decoded
        tokens.pdf_pages(pdf_of(5))


def test_a_route_mixing_kinds_sends_documents_to_the_deployments_that_take_them() -> None:
    entry = route("public", "a", "b")
    gpt, command = entry.deployments
    command = dataclasses.replace(
        command, provider=dataclasses.replace(command.provider, kind="cohere")
    )
    mixed = dataclasses.replace(entry, deployments=(gpt, command))
    assert capabilities.readers(mixed, chat(PDF)).deployments == (gpt,)
    assert capabilities.readers(mixed, chat(TEXT)) is mixed  # text: both take it
    assert capabilities.readers(mixed, chat(Text("hi"))) is mixed
    only_cohere = dataclasses.replace(entry, deployments=(command,))
    assert capabilities.readers(only_cohere, chat(PDF)) is only_cohere  # refused by name


def test_a_fetched_part_is_a_type_bedrock_names() -> None:
    """What the gateway accepts for a part it fetches (``documents.FETCHED_*``, read by
    ``core.media_inline``) is what Bedrock's Converse names, the narrowest bytes-only
    upstream: a type added to one and not the other fails here."""
    assert set(bedrock_maps.IMAGE_FORMATS) == documents.FETCHED_IMAGE_TYPES
    assert set(bedrock_maps.DOCUMENT_FORMATS) == documents.FETCHED_DOCUMENT_TYPES
