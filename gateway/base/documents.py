"""Documents (PDFs, text files) across dialects, and what an upstream can carry.

The parsers turn Anthropic ``document`` blocks, OpenAI chat ``file`` parts and Responses
``input_file`` items into canonical ``Document`` parts; the builders write them in the
upstream's own shape. What an upstream cannot carry (its kind's ``Accepts``) is refused
once, before the upstream is called (``capabilities.check``), with a 400 naming the model
and the document's content type, never dropped in silence.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.base.types import ChatRequest, Document, ToolResult, messages_digest

PDF = "application/pdf"

# What a part the gateway fetches by URL for an upstream that takes bytes only may be
# (``gateway.core.media_inline``): the image and document types Bedrock's Converse API
# names (``codecs/bedrock/maps.py``; a test holds the two equal), the narrowest of those
# upstreams, so a fetched part is one every one of them reads.
FETCHED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp"})
FETCHED_DOCUMENT_TYPES = frozenset(
    {
        PDF,
        "text/csv",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/html",
        "text/plain",
        "text/markdown",
    }
)


def from_base64(data: str, media_type: str | None, filename: str | None = None) -> Document:
    """A document from base64 data: text media types are decoded to text (every upstream
    can read text), others kept as data."""
    kind = (media_type or PDF).lower()
    if kind.startswith("text/"):
        try:
            text = base64.b64decode(data, validate=False).decode("utf-8")
        except (binascii.Error, ValueError):
            text = None
        if text is not None:
            return Document(media_type=kind, text=text, filename=filename)
    return Document(media_type=kind, data=data, filename=filename)


def media_type_of_url(url: str) -> str | None:
    """A URL's media type by its extension where it names one (``.pdf``, ``.txt``)."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    if path.endswith(".pdf"):
        return PDF
    if path.endswith((".txt", ".md")):
        return "text/markdown" if path.endswith(".md") else "text/plain"
    return None


def iter_documents(request: ChatRequest) -> Iterator[Document]:
    """Every document in the conversation, tool results included."""
    if messages_digest(request) is not None:  # scanned and not built: texts and tool calls
        return
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Document):
                yield part
            elif isinstance(part, ToolResult):  # (no generator a result: agents send hundreds)
                for item in part.content:
                    if isinstance(item, Document):
                        yield item


def needs_reader(doc: Document) -> bool:
    """A document the model must read as a file (a PDF...), not plain text."""
    return doc.text is None


@dataclass(frozen=True, slots=True)
class Accepts:
    """Which documents read as files (PDFs...) an upstream carries, as its provider kind
    declares them (``providers.base.Provider.documents``; this module, the floor, knows
    no kind, so ``core.capabilities`` asks the adapter and passes its answer here).
    ``types``: the media types it takes (None: any; "" is a document of no stated type);
    ``urls``: a document by URL goes whatever it names (the gateway fetches it,
    ``gateway.core.media_inline``); ``why``: the refusal otherwise, ``why_url`` that of a
    URL where it differs."""

    types: frozenset[str] | None = None
    urls: bool = False
    why: str = ""
    why_url: str = ""

    def refusal(self, doc: Document) -> str | None:
        """Why this upstream cannot carry ``doc`` (None: it can)."""
        if doc.text is not None or self.types is None:
            return None  # text goes as text (Anthropic: a text-source document) everywhere
        if (doc.url is not None and self.urls) or (doc.media_type or "").lower() in self.types:
            return None
        return (doc.url is not None and self.why_url) or self.why
