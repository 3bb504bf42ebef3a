"""Web search answered by a route of the gateway (``web_search_backend: route``, its
``web_search_url`` naming the route): a model that searches itself (Perplexity's sonar
models, OpenAI's ``gpt-4o-search-preview``...) is asked the query through the gateway's
own pipeline (``gateway.core.service.handle``, the Chat Completions endpoint) under the
caller's key, as the judge guardrail and the semantic cache ask theirs: its own journal
row (user agent ``switchyard-web-search``), counted against the key's limits and charged
to its budgets like any request; a key limited to some routes may use the search route
for this call only (the route's editor named it).

Its answer becomes the search's results (``results``): each source it cites, in order,
from Perplexity's ``search_results`` (title, date) and ``citations`` (URLs) or the
message's ``url_citation`` annotations (OpenAI), with the words of the answer that cite
it as the result's snippet (the sentences that carry its ``[n]`` marker, or the span an
annotation covers), else the source's own snippet; when the answer cites nothing in its
text, the first source carries the whole answer. An answer that names no source has no
results. A refusal or a failure of the route is the search's ``unavailable`` error
(``too_many_requests`` for a 429), naming the route and its status, for the model."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.base.entries import KeyEntry, charged_key
from gateway.base.types import SearchResult
from gateway.core import service
from gateway.features.server_tools.backends import SearchFailed, answer_json

USER_AGENT = "switchyard-web-search"
MAX_TOKENS = 1024  # of the search model's answer
_MARKER = re.compile(r"\[(\d{1,3})\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


async def search(route: str, query: str, key: KeyEntry, count: int) -> list[SearchResult]:
    """The results of ``query`` asked of ``route`` (``SearchFailed`` when it cannot)."""

    body = {
        "model": route,
        "messages": [{"role": "user", "content": query}],
        "max_tokens": MAX_TOKENS,
        "stream": False,
    }
    caller = service.Caller(key=charged_key(key, route), user_agent=USER_AGENT)
    reply = await service.handle("chat", "openai", orjson.dumps(body), {}, caller)
    if not isinstance(reply, service.Reply):  # asked for a whole answer
        await service.close_quietly(reply.chunks)
        raise SearchFailed(f"the search route {route!r} answered a stream")
    return results(answer_json(reply.status, reply.body, f"the search route {route!r}"))[:count]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _message(data: Any) -> dict[str, Any]:
    choices = data.get("choices") if isinstance(data, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    return message if isinstance(message, dict) else {}


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(_text(p.get("text")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


class _Sources:
    """The sources of one answer, in order, each URL once."""

    def __init__(self) -> None:
        self.found: dict[str, SearchResult] = {}
        self.cited: dict[str, list[str]] = {}  # url -> the answer's words citing it

    def add(self, url: str, title: str = "", snippet: str = "", age: str = "") -> str:
        if url not in self.found:
            self.found[url] = SearchResult(url, title, snippet, age or None)
        else:
            known = self.found[url]
            known.title = known.title or title
            known.snippet = known.snippet or snippet
            known.page_age = known.page_age or age or None
        return url

    def cite(self, url: str, words: str) -> None:
        words = words.strip()
        if words and words not in self.cited.setdefault(url, []):
            self.cited[url].append(words)


def results(data: Any) -> list[SearchResult]:
    """The search results a Chat Completions answer of a searching model gives."""
    message = _message(data)
    answer = _content(message)
    sources = _Sources()
    numbered: list[str] = []  # the [n] markers' URLs, 1-based
    listed = data.get("search_results") if isinstance(data, dict) else None
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and _text(entry.get("url")):
            url = sources.add(
                _text(entry.get("url")),
                _text(entry.get("title")),
                _text(entry.get("snippet")),
                _text(entry.get("date")) or _text(entry.get("last_updated")),
            )
            numbered.append(url)
    citations = data.get("citations") if isinstance(data, dict) else None
    if isinstance(citations, list) and citations:
        numbered = [sources.add(_text(c)) for c in citations if _text(c)]
    for annotation in message.get("annotations") or []:
        cited = annotation.get("url_citation") if isinstance(annotation, dict) else None
        if not isinstance(cited, dict) or not _text(cited.get("url")):
            continue
        url = sources.add(_text(cited.get("url")), _text(cited.get("title")))
        start, end = cited.get("start_index"), cited.get("end_index")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(answer):
            sources.cite(url, _cited_sentence(answer, start, end))
    for sentence in _SENTENCE.split(answer):
        for marker in _MARKER.findall(sentence):
            n = int(marker)
            if 1 <= n <= len(numbered):
                sources.cite(numbered[n - 1], _MARKER.sub("", sentence))
    found = list(sources.found.values())
    for result in found:
        words = sources.cited.get(result.url)
        if words:
            result.snippet = " ".join(words)
    if found and answer.strip() and not sources.cited:
        found[0].snippet = answer.strip()  # cites nothing in its text: the answer, once
    return found


def _cited_sentence(answer: str, start: int, end: int) -> str:
    """The span an annotation covers, widened to its sentence when it is the link text
    only (OpenAI's annotations cover the inline link)."""
    span = answer[start:end]
    if len(span.split()) >= 6:
        return span
    before = max(answer.rfind(". ", 0, start), answer.rfind("\n", 0, start))
    after = [i for i in (answer.find(". ", end), answer.find("\n", end)) if i != -1]
    return answer[before + 1 : (min(after) + 1 if after else len(answer))]
