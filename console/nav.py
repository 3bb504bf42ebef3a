"""The console's navigation, one table in one place: ``SECTIONS``. A new page is one
``Link`` line in its section; the top bar, its dropdowns and the phone menu are drawn
from this table (``base.html``), each link shown only to roles with its ``ability``.

Fifteen links on one line wrapped "Sign out" at 1440 px: links are grouped into a few
sections, each a dropdown (``<details>``, so it opens without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str  # a URL name ("console:routes") or a path ("/playground/")
    ability: str = ""  # what the reader's role needs (gateway/policy/roles.py); "": any role
    # the page is current when its URL name contains one of these, or its path starts
    # with ``url`` (for a path)
    matches: tuple[str, ...] = ()
    unless: str = ""  # hidden from a reader with this ability (who has another link there)

    def href(self) -> str:
        return self.url if self.url.startswith("/") else reverse(self.url)

    def is_current(self, url_name: str, path: str) -> bool:
        if self.url.startswith("/") and path.startswith(self.url):
            return True
        return any(m in url_name for m in self.matches)


@dataclass(frozen=True, slots=True)
class Section:
    label: str  # "": its links stand in the bar itself
    links: tuple[Link, ...]


SECTIONS: tuple[Section, ...] = (
    Section("", (Link("Dashboard", "console:dashboard", matches=("dashboard",)),)),
    Section(
        "Models",
        (
            Link(
                "Routes",
                "console:routes",
                "routes.view",
                ("route", "deployment", "config", "add-model"),
            ),
            Link("Providers", "console:providers", "providers.view", ("provider",)),
            Link("Catalog", "console:catalog", matches=("catalog",)),
        ),
    ),
    Section(
        "Access",
        (
            Link("Keys", "console:keys", matches=("key",)),
            Link("MCP", "console:mcp", "providers.edit", ("mcp",)),
            Link(
                "MCP", "console:mcp-connections", "mcp.connect", ("mcp",), unless="providers.edit"
            ),
            Link("Guardrails", "console:guardrails", "guardrails.view", ("guardrail",)),
            Link("Teams", "console:teams", "teams.view", ("team",)),
            Link("Users", "console:users", "users.view", ("user",)),
        ),
    ),
    Section(
        "Observe",
        (
            Link("Logs", "console:logs", matches=("logs", "log-detail")),
            Link("Scores", "console:scores", "logs.view", ("scores",)),
            Link("Spend", "console:spend", "usage.view", ("spend", "usage")),
            Link("Alerts", "console:alerts", "spend.view", ("alert",)),
            Link("Batches", "console:batches", "batches.view", ("batch",)),
            Link("Audit", "console:audit", "audit.view", ("audit",)),
        ),
    ),
    Section(
        "Build",
        (
            Link("Playground", "/playground/", "playground.use"),
            Link("Prompts", "console:prompts", "prompts.view", ("prompt",)),
            Link("Evals", "/evals/", "evals.view"),
        ),
    ),
)


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


def for_reader(can: object, url_name: str, path: str) -> list[ShownSection]:
    """The sections and links a reader may open (``can(ability)``), the current page
    marked; sections left empty are dropped."""
    allowed = can if callable(can) else (lambda ability: False)
    shown = []
    for section in SECTIONS:
        links = tuple(
            ShownLink(link.label, link.href(), link.is_current(url_name, path))
            for link in section.links
            if (not link.ability or allowed(link.ability))
            and not (link.unless and allowed(link.unless))
        )
        if links:
            shown.append(ShownSection(section.label, links))
    return shown
