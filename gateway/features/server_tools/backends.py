"""The search APIs a route may name as its web search backend, one class each: how a
query is asked (``request``) and how the answer's results are read (``results``). A new
kind is one class and one line in ``BACKENDS``; the route's settings name it
(``web_search_backend``), where it is (``web_search_url``) and its key
(``web_search_key``, an ``os.environ/NAME`` reference to the operator's environment).

The backend is the operator's own choice of endpoint (like a provider's base URL), so
it is reached through the pooled client as providers are, not through the SSRF-checked
fetch that web fetch uses for the model's URLs. Its key goes only to its URL (checked
when the route is saved, ``checks``); a failure is the call's ``unavailable`` error for
the model, with a reason that names the backend's host, never its key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.base import http
from gateway.base.errors import MissingSecret
from gateway.base.secrets import secret_refs
from gateway.base.types import SearchResult

MAX_RESULTS = 10
TIMEOUT = 15.0


class SearchFailed(Exception):
    """The backend could not answer; ``str()`` is safe to show (no key, no query);
    ``code`` the vendor's error code for it (``unavailable``, ``too_many_requests``)."""

    def __init__(self, message: str, code: str = "unavailable") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Backend:
    """One route's search backend, as the snapshot holds it (``RouteEntry.web_search``):
    its kind, URL, key reference and price per search (USD, None: not priced)."""

    kind: str
    url: str  # the route's name for the ``route`` kind
    key: str = ""  # an os.environ/NAME reference, resolved per search
    price: Any = None  # Decimal | None

    def api(self) -> SearchApi:
        return BACKENDS[self.kind]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class SearchApi:
    """A search API's wire: subclasses say how to ask and which fields to read (each
    result's ``url`` and ``title``, its ``snippet`` field, the first of its ``ages``)."""

    label: ClassVar[str]
    needs_key: ClassVar[bool] = True
    snippet: ClassVar[str] = "content"
    ages: ClassVar[tuple[str, ...]] = ()

    def request(self, url: str, query: str, count: int, key: str) -> httpx.Request:
        raise NotImplementedError

    def found(self, data: Any) -> Any:
        """The answer's list of results."""
        return data.get("results") if isinstance(data, dict) else None

    def results(self, data: Any) -> list[SearchResult]:
        return [
            SearchResult(
                url=_text(r.get("url")),
                title=_text(r.get("title")),
                snippet=_text(r.get(self.snippet)),
                page_age=next(filter(None, (_text(r.get(age)) for age in self.ages)), None),
            )
            for r in self.found(data) or []
            if isinstance(r, dict) and _text(r.get("url"))
        ]


class SearXNG(SearchApi):
    """A SearXNG instance's JSON API (``format=json`` must be enabled on it):
    ``GET {url}?q=...&format=json`` answers ``results[]`` of ``url``, ``title``,
    ``content``, ``publishedDate``. A key, when given, goes as a bearer token (an
    instance behind an authenticating proxy)."""

    label = "SearXNG"
    needs_key = False
    ages = ("publishedDate",)

    def request(self, url: str, query: str, count: int, key: str) -> httpx.Request:
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        params = {"q": query, "format": "json"}
        return http.client().build_request("GET", url, params=params, headers=headers)


class Brave(SearchApi):
    """The Brave Search API: ``GET {url}?q=...&count=N`` with the key in
    ``X-Subscription-Token``; ``web.results[]`` of ``url``, ``title``, ``description``,
    ``page_age``."""

    label = "Brave Search"
    snippet, ages = "description", ("page_age", "age")

    def request(self, url: str, query: str, count: int, key: str) -> httpx.Request:
        headers = {"Accept": "application/json", "X-Subscription-Token": key}
        params = {"q": query, "count": str(count)}
        return http.client().build_request("GET", url, params=params, headers=headers)

    def found(self, data: Any) -> Any:
        web = data.get("web") if isinstance(data, dict) else None
        return super().found(web)


class Tavily(SearchApi):
    """Tavily's search API: ``POST {url}`` with ``{"query", "max_results"}`` and the key
    as a bearer token; ``results[]`` of ``url``, ``title``, ``content``,
    ``published_date``."""

    label = "Tavily"
    ages = ("published_date",)

    def request(self, url: str, query: str, count: int, key: str) -> httpx.Request:
        body = orjson.dumps({"query": query, "max_results": count})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        return http.client().build_request("POST", url, content=body, headers=headers)


BACKENDS: dict[str, SearchApi] = {"searxng": SearXNG(), "brave": Brave(), "tavily": Tavily()}
# the backend that is a route of this gateway (``route_search``): ``url`` names the route
ROUTE = "route"
KINDS = (*BACKENDS, ROUTE)


def host(url: str) -> str:
    return urlsplit(url).hostname or "the search backend"


async def search(backend: Backend, query: str, count: int = MAX_RESULTS) -> list[SearchResult]:
    """The results of ``query`` from ``backend`` (``SearchFailed`` when it cannot)."""
    api = backend.api()
    where = host(backend.url)
    try:
        key = secret_refs.resolve_secret(backend.key) if backend.key else ""
    except MissingSecret as exc:
        raise SearchFailed(f"the search backend's key is not available ({exc})") from None
    request = api.request(backend.url, query, count, key)
    request.extensions["timeout"] = httpx.Timeout(TIMEOUT).as_dict()
    try:
        response = await http.client().send(request)
    except httpx.HTTPError as exc:
        raise SearchFailed(f"{where} could not be reached ({type(exc).__name__})") from None
    return api.results(answer_json(response.status_code, response.content, where))[:count]


def answer_json(status: int, body: bytes, where: str) -> Any:
    """A search answer's JSON; ``SearchFailed`` naming ``where`` when it is a refusal
    (429: too_many_requests, for the model to read) or not JSON."""
    if status == 429:
        raise SearchFailed(f"{where} is rate limiting (429)", "too_many_requests")
    if status != 200:
        raise SearchFailed(f"{where} answered {status}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SearchFailed(f"{where} answered something other than JSON") from None
