"""Web fetch as the gateway runs it: HTML reduced to its title and readable text, the
tool's allowed and blocked domains, and each refusal ``run`` sets on the item (a URL the
conversation never showed, a bad scheme, a refused fetch) before or instead of fetching.
The fetch itself (``gateway.core.url_fetch``, its SSRF rules) is faked here."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base.types import ServerTool, ServerToolItem
from gateway.core import url_fetch
from gateway.features.server_tools import fetch
from gateway.features.server_tools.fetch import html_text

PAGE = "https://docs.example/page"


def test_html_text() -> None:
    title, text = html_text(
        "<html><head><title> A  page </title><script>x()</script></head>"
        "<body><p>One &amp; two</p><div>three</div><noscript>no</noscript></body></html>"
    )
    assert title == "A page"
    assert text == "One & two\nthree"


def test_a_page_without_a_title_has_none() -> None:
    assert html_text("<p>just   text</p><style>p{}</style>") == (None, "just text")


def tool(allowed: tuple[str, ...] = (), blocked: tuple[str, ...] = ()) -> ServerTool:
    return ServerTool(
        "web_fetch", "web_fetch_20250910", "web_fetch", None, list(allowed), list(blocked)
    )


def test_a_domain_covers_its_subdomains_and_blocks_win() -> None:
    only_docs = tool(allowed=("Example.COM.",))
    assert fetch.domain_allowed("https://example.com/x", only_docs)
    assert fetch.domain_allowed("https://a.b.example.com/x", only_docs)
    assert not fetch.domain_allowed("https://notexample.com/x", only_docs)
    assert not fetch.domain_allowed("https://example.org/x", only_docs)
    blocked = tool(blocked=("https://evil.example/",))
    assert not fetch.domain_allowed("https://www.evil.example/", blocked)
    assert fetch.domain_allowed("https://good.example/", blocked)
    assert fetch.domain_allowed("https://any.where/", tool())


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    async def fake(url: str, accept: frozenset[str], **_: Any) -> url_fetch.Fetched:
        asked.append(url)
        if "refused" in url:
            raise url_fetch.FetchRefused("refused.example is not a public address")
        if url.endswith(".txt"):
            return url_fetch.Fetched(b"plain " * 3 + "\u00e9".encode(), "text/plain")
        return url_fetch.Fetched(b"<title>Docs</title><p>Hello</p>", "text/html")

    monkeypatch.setattr(url_fetch, "fetch", fake)
    return asked


def item(url: Any) -> ServerToolItem:
    return ServerToolItem("web_fetch", "srvtoolu_1", "web_fetch", {"url": url})


async def test_a_page_the_conversation_showed_is_fetched_as_text(fetched: list[str]) -> None:
    page = item(f"  {PAGE}  ")
    await fetch.run(page, tool(), f"see {PAGE}")
    assert fetched == [PAGE] and page.url == PAGE and page.error is None
    assert (page.title, page.text) == ("Docs", "Hello") and page.retrieved_at
    plain = item("https://docs.example/a.txt")
    await fetch.run(plain, tool(), "https://docs.example/a.txt/")  # a trailing slash is the same
    assert plain.text == "plain plain plain \u00e9" and plain.title is None


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (None, "invalid_tool_input"),
        ("   ", "invalid_tool_input"),
        ("https://docs.example/" + "x" * 250, "url_too_long"),
        ("ftp://docs.example/file", "invalid_tool_input"),
        ("https://blocked.example/", "url_not_allowed"),
        ("https://docs.example/elsewhere", "url_not_in_prior_context"),
    ],
)
async def test_refusals_fetch_nothing(fetched: list[str], url: Any, error: str) -> None:
    refused = item(url)
    seen = "ftp://docs.example/file https://blocked.example/ https://docs.example/"
    await fetch.run(refused, tool(blocked=("blocked.example",)), seen)
    assert refused.error == error and refused.detail and fetched == []


async def test_a_refused_fetch_is_url_not_accessible(fetched: list[str]) -> None:
    refused = item("https://refused.example/")
    await fetch.run(refused, tool(), "https://refused.example/")
    assert refused.error == "url_not_accessible" and "refused.example" in refused.detail
    assert refused.text == ""
