"""The pages #66's walk found wanting, in headless Chromium at 1440 px (and 390 px for
the screenshots, tests/screenshots.py): the Keys table fits with its Spend column in
view, a fallback request's log reads as what happened. A live gateway on the demo
routes, with keys that carry the pills and limits that widened the table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.browser_support import CHROMIUM, WIDE, opened_page, sign_in
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


SEED = """
from decimal import Decimal
from django.contrib.auth.models import User
from gateway.models import Route, Team
from gateway.access import keys
User.objects.create_superuser('ops', '', 'pw-123456789')
team = Team.objects.create(name='research-and-development')
for n in range(3):
    keys.create_key(
        name=f'production-backend-service-{n}', team=team, routes=['echo', 'echo-pair', 'echo-slow'],
        rpm_limit=600, tpm_limit=2000000, budget_usd=Decimal('250'), tags=['backend', 'prod'],
    )
Route.objects.filter(name='echo-pair').update(max_attempts=2)
from gateway.models import Deployment, Provider
flaky = Route.objects.create(name='flaky', max_attempts=3, fallbacks=['echo'])
Deployment.objects.create(route=flaky, provider=Provider.objects.get(name='echo'),
    model='echo-down', params={'fail_status': 503})
LONG = 'a-route-named-by-someone-who-likes-long-names-' + 'x' * 54
long_route = Route.objects.create(name=LONG)
Deployment.objects.create(route=long_route, provider=Provider.objects.get(name='echo'), model='echo-1')
keys.create_key(name='k' * 100, team=Team.objects.create(name='t' * 100))
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {"SWITCHYARD_RETRY_BASE_SECONDS": "0.1", "SWITCHYARD_COOLDOWN_FAILURES": "10"}
    with running_gateway(tmp_path_factory.mktemp("walk"), env=env) as gateway:
        gateway.shell(SEED)
        with httpx.Client(
            base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.master_key}"}
        ) as api:
            for route in ("echo", "echo-pair", "flaky"):
                api.post(
                    "/v1/chat/completions",
                    json={"model": route, "messages": [{"role": "user", "content": "hi"}]},
                )
        yield gateway


@pytest.fixture
def page(browser, gw: Gateway):
    with opened_page(browser, gw, WIDE, timeout=15_000) as page:
        sign_in(page)
        yield page


def shots(page: Any, name: str) -> None:
    """The page at 1440 px and at 390 px (a phone), whole."""
    folder = screenshot_dir()
    page.screenshot(path=str(folder / f"{name}-1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(folder / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_the_keys_table_fits_at_1440_with_spend_in_view(page) -> None:
    page.goto("/keys/")
    fit = page.evaluate(
        """() => { const wrap = document.querySelector('#keys-main .table-wrap');
        const spend = [...wrap.querySelectorAll('th')].find(th => th.textContent.trim() === 'Spend');
        const box = spend.getBoundingClientRect(), area = wrap.getBoundingClientRect();
        return {scroll: wrap.scrollWidth, width: wrap.clientWidth,
                spendRight: box.right, areaRight: area.right}; }"""
    )
    assert fit["scroll"] <= fit["width"] + 1, fit  # no sideways scrolling
    assert fit["spendRight"] <= fit["areaRight"] + 1, fit  # Spend is in view
    shots(page, "walk-keys")


def test_a_fallback_requests_log_reads_as_what_happened(page) -> None:
    page.goto("/logs/?route=echo")
    page.locator("table a[href^='/logs/']").first.wait_for()
    rows = page.locator("table tbody tr")
    # the newest request answered by echo is the fallback of flaky
    page.goto(page.locator("table a[href^='/logs/']").first.get_attribute("href"))
    stats = page.locator(".stats").inner_text()
    assert "flaky" in stats and "answered by fallback" in stats, stats
    attempts = page.locator("ol.attempts li")
    assert attempts.count() == 4, rows.count()
    for n in range(3):
        assert "fallback" not in attempts.nth(n).inner_text()
    assert "fallback: echo" in attempts.nth(3).inner_text()
    legend = page.locator(".legend").inner_text()
    assert "Retry backoff" in legend and "Gateway overhead" in legend
    shots(page, "walk-log-fallback")


def test_add_model_warns_of_a_model_without_known_limits(page) -> None:
    page.goto("/routes/add-model/")
    page.fill("#id_model", "house-model-7b")
    page.locator("#id_model").dispatch_event("change")
    warning = page.locator(".limits-warning")
    warning.wait_for()
    assert "keys with a budget will refuse" in warning.inner_text()
    shots(page, "walk-add-model-warning")


LONG = "a-route-named-by-someone-who-likes-long-names-" + "x" * 54


@pytest.mark.parametrize("width", [1440, 390])
def test_hundred_character_names_do_not_widen_the_page(page, width) -> None:
    """Names of 100 characters (the walk's) wrap instead of pushing the page sideways."""
    page.set_viewport_size({"width": width, "height": 900})
    wide = []
    for path in ("/routes/", "/keys/", "/teams/", "/"):
        page.goto(path)
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        if scroll > width + 1:
            wide.append(f"{path}: {scroll}px")
    page.goto("/routes/")
    route_id = page.locator(f"[id^='route-']:has-text('{LONG}')").first.get_attribute("id")
    page.goto(f"/routes/{route_id.removeprefix('route-')}/")
    if page.evaluate("() => document.documentElement.scrollWidth") > width + 1:
        wide.append("the route's page")
    if width == 390:
        shots(page, "walk-long-route")
    assert not wide, wide
