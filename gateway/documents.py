"""Documents (PDFs, text files) across dialects: what each upstream kind can carry.

The parsers turn Anthropic ``document`` blocks, OpenAI chat ``file`` parts and Responses
``input_file`` items into canonical ``Document`` parts; the builders write them in the
upstream's own shape. What an upstream kind cannot carry is refused here, once, before
the upstream is called (``capabilities.check``), with a 400 naming the model and the
document's content type, never dropped in silence.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from gateway.types import ChatRequest, Document, ToolResult

PDF = "application/pdf"


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


# Converse document formats by media type: what a Bedrock upstream takes as bytes.
BEDROCK_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}


def refusal(kind: str, doc: Document) -> str | None:
    """Why an upstream of provider ``kind`` cannot carry ``doc`` (None: it can)."""
    if doc.text is not None:
        return None  # text goes as text (Anthropic: a text-source document) everywhere
    media_type = (doc.media_type or "").lower()
    if kind in ("openai", "azure"):
        return None  # by URL: the gateway fetches it (gateway.core.media_inline)
    if kind == "anthropic":
        if media_type and media_type != PDF:
            if doc.url is not None:
                return "Anthropic takes PDFs by URL, nothing else"
            return "Anthropic documents are PDFs or plain text"
        return None
    if kind == "bedrock":
        if doc.url is not None:
            return None  # the gateway fetches it and checks its type (gateway.core.media_inline)
        if media_type not in BEDROCK_DOCUMENT_FORMATS:
            return "Bedrock documents are PDF, CSV, DOC(X), XLS(X), HTML, Markdown or text"
        return None
    if kind == "cohere":
        return "Cohere reads text documents only"
    return None  # gemini, vertex_ai, openai_responses, echo: any document
