"""The route card and form show a route's context-window fallbacks, in a browser at
laptop and phone widths (screenshots to the scratch folder, tests/screenshots.py)."""

from __future__ import annotations

import pytest

from tests.console.browser_support import shot, sign_in
from tests.live import Gateway

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1440, 390])
def test_the_route_card_and_form_show_context_window_fallbacks(page, gw: Gateway, width) -> None:
    gw.shell(
        "from gateway.models import Route\n"
        "for n in ('cw-mid', 'cw-big'): Route.objects.get_or_create(name=n)\n"
        "Route.objects.get_or_create(name='cw-small', "
        "defaults={'context_window_fallbacks': ['cw-mid', 'cw-big']})"
    )
    route_id = gw.shell(
        "from gateway.models import Route; print(Route.objects.get(name='cw-small').pk)"
    ).split()[-1]  # the shell may print a line of its own first
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page)
    page.goto(f"/routes/#route-{route_id}")
    card = page.locator(f"#route-{route_id}")
    assert "cw-mid, cw-big" in card.inner_text()
    shot(page, f"route-cw-card-{width}")
    page.goto(f"/routes/{route_id}/")
    field = page.locator("#id_context_window_fallbacks")
    assert field.input_value() == "cw-mid, cw-big"
    assert page.get_by_text("Context-window fallbacks").first.is_visible()
    field.scroll_into_view_if_needed()
    shot(page, f"route-cw-form-{width}")
