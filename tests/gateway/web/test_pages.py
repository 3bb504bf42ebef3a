"""Console page declarations (``gateway.web.pages``): a page names its abilities (read,
write defaulting to read; none for a public page), its URL name and route are each
registered once, the role policy learns them, and a unit's panels are found by their
host page and by the target an htmx request aims at."""

from __future__ import annotations

import pytest
from django.http import HttpResponse

from gateway.access import roles
from gateway.web import pages
from gateway.web.pages import Nav, Page, Panel


def view(request):  # type: ignore[no-untyped-def]
    return HttpResponse("ok")


@pytest.fixture
def registry(monkeypatch) -> None:
    """The registries as they are, restored after the test registers its own."""
    pages.all()  # the real pages first, so that loading the URLconf does not collide
    monkeypatch.setattr(pages, "_PAGES", dict(pages._PAGES))
    monkeypatch.setattr(pages, "_PANELS", dict(pages._PANELS))
    monkeypatch.setattr(roles, "PAGES", dict(roles.PAGES))


def test_a_page_needs_its_read_ability_for_a_get_and_its_write_one_else() -> None:
    page = Page("things/", view, "things", read="things.view", write="things.edit")
    assert page.abilities == ("things.view", "things.edit")
    assert Page("t/", view, "t", read="things.view").abilities == ("things.view", "things.view")
    assert Page("login/", view, "login", read=None).abilities is None
    assert page.view_name == "console:things"
    assert page.pattern().name == "things" and str(page.pattern().pattern) == "things/"


def test_a_malformed_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="public page"):
        Page("x/", view, "x", read=None, write="x.edit")
    with pytest.raises(ValueError, match="leading slash"):
        Page("/x/", view, "x", read="x.view")
    with pytest.raises(ValueError, match="unknown nav section"):
        Nav("Elsewhere", "X")


def test_registering_declares_the_abilities_and_refuses_twins(registry) -> None:
    page = Page("zz-test/", view, "zz-test", read="keys.view", write="keys.edit")
    assert pages.register(page) == (page,)
    assert roles.PAGES["console:zz-test"] == ("keys.view", "keys.edit")
    assert pages.get("zz-test") is page and pages.get("console:zz-test") is page
    assert pages.get("no-such-page") is None
    assert pages.urlpatterns()[-1].name == "zz-test"
    with pytest.raises(ValueError, match="declared twice"):
        pages.register(Page("other/", view, "zz-test", read="keys.view"))
    with pytest.raises(ValueError, match="share 'zz-test/'"):
        pages.register(Page("zz-test/", view, "zz-other", read="keys.view"))


def test_the_real_pages_are_all_declared_with_the_policy() -> None:
    every = pages.all()
    assert every and all(roles.PAGES[page.view_name] == page.abilities for page in every)


def test_panels_are_found_by_their_page_and_target(registry) -> None:
    panel = Panel("zz-host", "zz-board", lambda request: "<div id='zz-board'></div>")
    pages.register_panel(panel)
    pages.register_panel(panel)  # the same again: fine
    assert pages.panels("zz-host") == [panel]
    assert pages.targeted("zz-host", "zz-board") is panel
    assert pages.targeted("zz-host", None) is None
    assert pages.targeted("zz-host", "elsewhere") is None
    with pytest.raises(ValueError, match="declared twice"):
        pages.register_panel(Panel("zz-host", "zz-board", lambda request: ""))
