"""The console's navigation, built from the pages' declarations: a page with a ``nav``
entry (``gateway.web.pages.Nav``) is a link in its section; the top bar, its dropdowns and
the phone menu are drawn from ``sections()`` (``base.html``), each link shown only to
roles that may open its page.

Fifteen links on one line wrapped "Sign out" at 1440 px: links are grouped into a few
sections (``gateway.web.pages.SECTIONS``), each a dropdown (``<details>``, so it opens
without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from gateway.web import pages


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str  # a URL name ("console:routes")
    ability: str = ""  # what the reader's role needs (gateway/access/roles.py); "": any role
    # the page is current when its URL name contains one of these
    matches: tuple[str, ...] = ()
    unless: str = ""  # hidden from a reader with this ability (who has another link there)

    def href(self) -> str:
        return str(reverse(self.url))

    def is_current(self, url_name: str) -> bool:
        return any(m in url_name for m in self.matches)


@dataclass(frozen=True, slots=True)
class Section:
    label: str  # "": its links stand in the bar itself
    links: tuple[Link, ...]


def sections() -> tuple[Section, ...]:
    """The sections in their fixed order (``pages.SECTIONS``), each with the links of the
    pages declared in it, by their ``order`` (then as registered); empty ones left out."""
    declared = [page for page in pages.all() if page.nav is not None]
    found = []
    for label in pages.SECTIONS:
        entries = sorted(
            (page for page in declared if page.nav and page.nav.section == label),
            key=lambda page: page.nav.order if page.nav else 0,
        )
        links = tuple(
            Link(
                page.nav.label,
                page.view_name,
                page.read or "",
                page.nav.matches,
                page.nav.unless,
            )
            for page in entries
            if page.nav is not None
        )
        if links:
            found.append(Section(label, links))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ShownLink:
    label: str
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class ShownSection:
    label: str
    links: tuple[ShownLink, ...]

    @property
    def current(self) -> bool:
        return any(link.current for link in self.links)


def for_reader(can: object, url_name: str) -> list[ShownSection]:
    """The sections and links a reader may open (``can(ability)``), the current page
    marked; sections left empty are dropped."""
    allowed = can if callable(can) else (lambda ability: False)
    shown = []
    for section in sections():
        links = tuple(
            ShownLink(link.label, link.href(), link.is_current(url_name))
            for link in section.links
            if (not link.ability or allowed(link.ability))
            and not (link.unless and allowed(link.unless))
        )
        if links:
            shown.append(ShownSection(section.label, links))
    return shown
