"""Images and documents given by URL, fetched by the gateway for an upstream that takes
bytes only (Bedrock takes neither by URL; OpenAI chat file parts take no URL), as
LiteLLM's proxy does. The upstream's ``Codec`` says what it takes by URL with
``media_urls`` (a set of part kinds, ``"image"`` and ``"document"``; by default both);
every other URL is fetched here, through ``gateway.core.url_fetch``'s checks, and replaced
by its bytes before the codec writes the body (``gateway.core.upstream`` does it before
the provider is called). A refused or failed fetch is a 400 naming the URL's host.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from typing import Any

from gateway.base import documents
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Image, ToolResult, messages_digest
from gateway.core import url_fetch

_BY_URL = (Image, Document)  # a tuple: a union in the isinstance call is built each time

EVERY_KIND = frozenset({"image", "document"})
IMAGE_TYPES = documents.FETCHED_IMAGE_TYPES  # what a fetched part may be, by kind
DOCUMENT_TYPES = documents.FETCHED_DOCUMENT_TYPES


def _fetchable(part: Any, by_url: frozenset[str]) -> str | None:
    """The URL of ``part`` the gateway must fetch, or None."""
    if isinstance(part, _BY_URL) and part.url and part.kind not in by_url:
        if isinstance(part, Document) and (part.data is not None or part.text is not None):
            return None
        if isinstance(part, Image) and part.data is not None:
            return None
        return part.url
    return None


def _urls(request: ChatRequest, by_url: frozenset[str]) -> dict[str, str]:
    """Every URL to fetch, with the kind of part that names it."""
    found: dict[str, str] = {}
    if messages_digest(request) is not None:
        return found  # (unbuilt messages hold no media: the scans take none)
    for message in request.messages:
        for part in message.parts:
            # an agent's history is mostly text: only media parts are looked at closer
            if isinstance(part, ToolResult):
                parts: Any = part.content
            elif isinstance(part, _BY_URL):
                parts = (part,)
            else:
                continue
            for inner in parts:
                url = _fetchable(inner, by_url) if isinstance(inner, _BY_URL) else None
                if url is not None:
                    found.setdefault(url, inner.kind)
    return found


async def _fetch(url: str, kind: str) -> url_fetch.Fetched:
    accept = IMAGE_TYPES if kind == "image" else DOCUMENT_TYPES
    try:
        return await url_fetch.fetch(url, accept)
    except url_fetch.FetchRefused as exc:
        raise InvalidRequest(
            f"the {kind} URL could not be fetched by the gateway for this upstream, "
            f"which takes {kind}s as bytes only: {exc}",
            param="url",
        ) from None


def _replaced(part: Any, fetched: dict[str, url_fetch.Fetched], by_url: frozenset[str]) -> Any:
    url = _fetchable(part, by_url)
    if url is None:
        if isinstance(part, ToolResult):
            content = [_replaced(p, fetched, by_url) for p in part.content]
            return dataclasses.replace(part, content=content)
        return part
    got = fetched[url]
    data = base64.b64encode(got.data).decode("ascii")
    if isinstance(part, Image):
        return Image(data=data, media_type=got.content_type)
    return documents.from_base64(data, got.content_type, part.filename)


def fetches(request: ChatRequest, by_url: frozenset[str]) -> bool:
    """Whether ``inline`` has anything to fetch for ``request`` (told without awaiting)."""
    return not by_url >= EVERY_KIND and bool(_urls(request, by_url))


async def inline(request: ChatRequest, by_url: frozenset[str] | None) -> ChatRequest:
    """``request`` with the URLs its upstream cannot take replaced by their bytes
    (fetched concurrently, each URL once); as is when there are none."""
    if by_url is None or by_url >= EVERY_KIND:
        return request
    urls = _urls(request, by_url)
    if not urls:
        return request
    results = await asyncio.gather(*(_fetch(url, kind) for url, kind in urls.items()))
    fetched = dict(zip(urls, results, strict=True))
    messages = [
        dataclasses.replace(m, parts=[_replaced(p, fetched, by_url) for p in m.parts])
        for m in request.messages
    ]
    return dataclasses.replace(request, messages=messages)
