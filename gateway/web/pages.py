"""One declaration per console URL: ``Page``. Its route and view make the URL
(``console/urls.py``), its ``nav`` entry the link in the top bar (``console/nav.py``), its
``read``/``write`` abilities what the role policy asks before the view runs
(``gateway.access.roles.PAGES``, filled here: access sits below the web kit). Before this,
a page was four tables keyed by the same URL name (the URLconf, the nav, the role table
and the role-matrix test); one could be missed and the page was open to owners only, or
absent from the bar.

A page is declared where its views are (a feature's ``pages.py``, or the console's own
groups) and registered once, at import::

    register(
        Page("keys/", key_list, "keys", read="keys.view", write="keys.edit",
             nav=Nav("Access", "Keys", matches=("key",), order=10)),
        Page("keys/new/", key_create, "key-create", read="keys.edit"),
    )

``read`` is the ability a GET (HEAD, OPTIONS) needs, ``write`` any other method's (the
read one when not given); ``read=None`` is a public page (sign-in, static files), open to
anyone. A URL name is unique, and so is a route: registering either twice raises.
Templates keep their own ``<title>`` (most name what they show: a prompt, a route), so a
page declares none.

A unit may also draw part of a page it does not own: a ``Panel`` (the pinned board on
the console's dashboard), which the host page's view asks for by its own URL name
(``panels``) and draws where its template says, so the host never names the unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, path

from gateway.access import roles

NAMESPACE = "console"  # every page's URL name is "console:<name>"

# The top bar's sections, in the order drawn; "" is the bar itself (no dropdown).
SECTIONS = ("", "Models", "Access", "Observe", "Build")


@dataclass(frozen=True, slots=True)
class Nav:
    """A page's link in the top bar: in ``section`` (one of ``SECTIONS``), shown to readers
    who may open the page (its ``read`` ability) and without ``unless`` (who has another
    link there); current when the open page's URL name contains one of ``matches``.
    Links of a section are drawn by ``order``, then as registered."""

    section: str
    label: str
    matches: tuple[str, ...] = ()
    unless: str = ""
    order: int = 50

    def __post_init__(self) -> None:
        if self.section not in SECTIONS:
            raise ValueError(f"unknown nav section {self.section!r}: one of {SECTIONS}")


@dataclass(frozen=True, slots=True)
class Page:
    """A console URL: ``route`` (Django's ``path`` syntax, no leading slash), its view, its
    URL name, the abilities it needs (``read``: GET; ``write``: any other method, the read
    one when "") and its navigation entry, if any."""

    route: str
    view: Callable[..., Any]
    name: str
    read: str | None
    write: str = ""
    nav: Nav | None = None

    def __post_init__(self) -> None:
        if self.read is None and self.write:
            raise ValueError(f"{self.name}: a public page (read=None) has no write ability")
        if self.route.startswith("/"):
            raise ValueError(f"{self.name}: a route has no leading slash ({self.route!r})")

    @property
    def view_name(self) -> str:
        return f"{NAMESPACE}:{self.name}"

    @property
    def abilities(self) -> tuple[str, str] | None:
        """(read, write), or None for a public page."""
        if self.read is None:
            return None
        return self.read, self.write or self.read

    def pattern(self) -> URLPattern:
        return path(self.route, self.view, name=self.name)


_PAGES: dict[str, Page] = {}  # by URL name, in registration order


def register(*pages: Page) -> tuple[Page, ...]:
    """Declare ``pages``: their URLs, their links and what the role policy asks for them.
    A URL name or a route already registered raises ``ValueError``."""
    routes = {page.route: page.name for page in _PAGES.values()}
    for page in pages:
        if page.name in _PAGES:
            raise ValueError(f"the console page {page.name!r} is declared twice")
        if page.route in routes:
            raise ValueError(f"{page.name!r} and {routes[page.route]!r} share {page.route!r}")
        routes[page.route] = page.name
        _PAGES[page.name] = page
        roles.declare_page(page.view_name, page.abilities)
    return pages


def all() -> tuple[Page, ...]:  # noqa: A001 - pages.all(), as the registry reads
    """Every registered page, in registration order. The URLconf imports the modules that
    declare pages, so it is loaded first if no request has loaded it yet, with the
    URLconfs it includes (the console's is loaded on first use: gateway/server/urls.py)."""
    for pattern in get_resolver().url_patterns:  # (cached after the first)
        if isinstance(pattern, URLResolver):
            pattern.url_patterns  # noqa: B018 - loading an included URLconf is the point
    return tuple(_PAGES.values())


def get(name: str) -> Page | None:
    """The page with URL name ``name`` ("keys" or "console:keys")."""
    return {page.name: page for page in all()}.get(name.removeprefix(f"{NAMESPACE}:"))


def urlpatterns() -> list[URLPattern]:
    """The console's URL patterns, one per registered page, in registration order."""
    return [page.pattern() for page in _PAGES.values()]


@dataclass(frozen=True, slots=True)
class Panel:
    """Part of the page named ``page`` drawn by a unit: ``draw(request)`` gives its HTML,
    one element whose id is ``target`` (an htmx request of the host page aimed at that
    id is answered with the panel alone, ``targeted``). Drawn with the host page's own
    abilities checked; the panel asks its own rules for what it shows."""

    page: str
    target: str
    draw: Callable[[Any], str]


_PANELS: dict[str, Panel] = {}  # by target id


def register_panel(panel: Panel) -> Panel:
    """Declare ``panel``; a target id already registered raises ``ValueError``."""
    if panel.target in _PANELS and _PANELS[panel.target] != panel:
        raise ValueError(f"the panel #{panel.target} is declared twice")
    _PANELS[panel.target] = panel
    return panel


def panels(page: str) -> list[Panel]:
    """The panels of the page named ``page``, in registration order (``INSTALLED_APPS``)."""
    all()  # the units' pages modules declare them
    return [panel for panel in _PANELS.values() if panel.page == page]


def targeted(page: str, target: str | None) -> Panel | None:
    """The panel of ``page`` an htmx request aims at (its ``HX-Target``), if any."""
    return next((p for p in panels(page) if target and p.target == target), None)
