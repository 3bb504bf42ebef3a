"""The console's navigation (``console.nav``): sections in their declared order with the
declared pages' links, and what one reader is shown: only the links whose ability they
have, a link hidden from who has the ``unless`` ability (they have another there), the
current page's link and section marked, empty sections dropped."""

from __future__ import annotations

from django.urls import reverse

from console import nav
from gateway.web import pages


def abilities(*names: str):
    return lambda ability: ability in names


def test_sections_follow_the_declared_order_with_their_pages_links() -> None:
    found = nav.sections()
    assert [s.label for s in found] == [label for label in pages.SECTIONS if label in
                                        {s.label for s in found}]  # fmt: skip
    routes = next(link for s in found for link in s.links if link.url == "console:routes")
    assert routes.href() == "/routes/" and routes.ability == "routes.view"
    assert routes.is_current("deployment-edit") and not routes.is_current("keys")


def test_a_reader_sees_only_the_links_they_may_open() -> None:
    shown = nav.for_reader(abilities("logs.view", "mcp.connect"), "log-detail")
    assert [s.label for s in shown] == ["Access", "Observe"]
    access, observe = shown
    assert [(link.label, link.href) for link in access.links] == [
        ("MCP", reverse("console:mcp-connections")),
        ("Agents", reverse("console:a2a-connections")),
    ]  # fmt: skip
    assert [link.label for link in observe.links] == ["Logs", "Sessions", "Scores"]
    assert observe.current and not access.current
    assert [link.current for link in observe.links] == [True, False, False]


def test_unless_hides_a_link_from_who_has_the_other() -> None:
    shown = nav.for_reader(abilities("providers.edit", "mcp.connect"), "")
    (access,) = shown
    assert [link.href for link in access.links] == [reverse("console:mcp"), reverse("console:a2a")]


def test_no_abilities_or_no_check_shows_nothing() -> None:
    assert nav.for_reader(abilities(), "dashboard") == []
    assert nav.for_reader(None, "dashboard") == []
