"""Web fetch as the gateway runs it: the model's URL fetched under the gateway's SSRF
rules (``gateway.core.url_fetch``: public addresses only unless the operator allows
more, every redirect checked, the size and time bounded), and the page given back as
text (HTML reduced to its readable text, its ``<title>`` kept).

As at Anthropic, a URL the model did not see in the conversation is refused
(``url_not_in_prior_context``): a model cannot be talked into carrying the conversation
out to an address it made up."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from gateway.base.types import ServerTool, ServerToolItem
from gateway.core import url_fetch

ACCEPT = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/json",
        "application/xml",
        "text/xml",
    }
)
MAX_URL = 250
MAX_TEXT = 100_000  # characters of a page given to the model
_SKIPPED = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.title: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _SKIPPED and self.skipping:
            self.skipping -= 1
        elif tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            self.pieces.append(data)


def html_text(html: str) -> tuple[str | None, str]:
    """An HTML page's title and readable text."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = "".join(parser.pieces)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n[ \n]*", "\n", text).strip()
    title = " ".join("".join(parser.title).split()) or None
    return title, text


def domain_allowed(url: str, tool: ServerTool) -> bool:
    """Whether ``url``'s host is within the tool's ``allowed_domains`` (a domain covers
    its subdomains) and outside its ``blocked_domains``."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")

    def under(domain: str) -> bool:
        domain = domain.lower().strip().rstrip(".")
        if "://" in domain:
            domain = urlsplit(domain).hostname or domain
        return host == domain or host.endswith("." + domain)

    if tool.allowed_domains and not any(under(d) for d in tool.allowed_domains):
        return False
    return not any(under(d) for d in tool.blocked_domains)


async def run(item: ServerToolItem, tool: ServerTool, seen: str) -> None:
    """Fetch ``item``'s URL into it (its text, title, retrieval time), or set its error.
    ``seen``: the conversation's text so far, where the URL must appear."""
    url = item.input.get("url")
    if not isinstance(url, str) or not url.strip():
        item.error, item.detail = "invalid_tool_input", "url must be a string"
        return
    url = item.url = url.strip()
    if len(url) > MAX_URL:
        item.error, item.detail = "url_too_long", f"longer than {MAX_URL} characters"
        return
    if urlsplit(url).scheme not in ("http", "https"):
        item.error, item.detail = "invalid_tool_input", "an http or https URL is needed"
        return
    if not domain_allowed(url, tool):
        item.error, item.detail = "url_not_allowed", "the domain is not allowed for this tool"
        return
    if url not in seen and url.rstrip("/") not in seen:
        item.error = "url_not_in_prior_context"
        item.detail = "only URLs the conversation or an earlier search gave may be fetched"
        return
    try:
        fetched = await url_fetch.fetch(url, ACCEPT)
    except url_fetch.FetchRefused as exc:
        item.error, item.detail = "url_not_accessible", str(exc)
        return
    text = fetched.data.decode("utf-8", errors="replace")
    if fetched.content_type in ("text/html", "application/xhtml+xml"):
        item.title, text = html_text(text)
    item.text = text[:MAX_TEXT]
    item.retrieved_at = datetime.now(UTC).isoformat()
