"""The Bills section of Spend in headless Chromium against a live gateway whose OpenAI
admin key points at a Costs and Usage API on 127.0.0.1 (the golden pages of
tests/fixtures/billing/, moved to the last two days): an owner presses "Reconcile" and
the page shows each day, its routes and the drift past the threshold; axe-core finds
no violation on it. Screenshots at 1440 and 390 px go to the scratch folder
(tests/screenshots.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser_support import CHROMIUM, WIDE, opened_page, sign_in
from tests.gateway.features.billing.bill_server import bill_server
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

ADMIN_KEY = "sk-admin-browser-0123456789"
TODAY = datetime.now(UTC).date()
FIRST, SECOND = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
GOLDEN_FIRST = int(datetime(2025, 11, 20, tzinfo=UTC).timestamp())

SEED = f"""
from datetime import datetime, timezone
from decimal import Decimal
from django.contrib.auth.models import User
from gateway.models import Provider, RequestLog
User.objects.create_superuser('ops', '', 'pw-123456789')
Provider.objects.create(name='openai-main', kind='openai')
def spent(route, model, usd, day):
    RequestLog.objects.create(request_id=route + str(day), dialect='openai', endpoint='chat',
        route=route, provider='openai-main', upstream_model=model, input_tokens=1000,
        output_tokens=500, cost_usd=Decimal(usd),
        created_at=datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))
from datetime import date
spent('gpt', 'gpt-4o', '10.00', date.fromisoformat('{FIRST}'))
spent('mini', 'gpt-4o-mini', '2.00', date.fromisoformat('{FIRST}'))
spent('mini', 'gpt-4o-mini', '0.50', date.fromisoformat('{SECOND}'))
"""


def recent(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The golden pages with their buckets moved to the last two days."""
    shift = int(datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC).timestamp())
    shift -= GOLDEN_FIRST
    for page in pages:
        for bucket in page["data"]:
            bucket["start_time"] += shift
            bucket["end_time"] += shift
    return pages


@pytest.fixture(scope="module")
def openai_api() -> Iterator[Any]:
    with bill_server(
        "openai", ADMIN_KEY, "openai_costs.json", "openai_usage_completions.json"
    ) as server:
        for path, pages in server.routes.items():
            server.routes[path] = recent(pages)
        yield server


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, openai_api) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {
        "SWITCHYARD_OPENAI_ADMIN_KEY": ADMIN_KEY,
        "SWITCHYARD_OPENAI_ADMIN_BASE_URL": openai_api.url,
    }
    with running_gateway(tmp_path_factory.mktemp("bills"), env=env) as gateway:
        gateway.shell(SEED)
        yield gateway


@pytest.fixture
def page(browser, gw: Gateway):
    with opened_page(browser, gw, WIDE, timeout=15_000) as page:
        sign_in(page)
        yield page


def shots(page: Any, name: str) -> None:
    """The page at 1440 px and at 390 px (a phone), whole, never wider than the phone."""
    folder = screenshot_dir()
    page.screenshot(path=str(folder / f"{name}-1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(folder / f"{name}-390.png"), full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1440, "height": 900})
    assert width <= 390 + 1, f"{name}: the page is {width}px wide on a phone"


def no_axe_violations(page: Any) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe.Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_an_owner_reconciles_and_reads_the_drift_per_day_and_route(page, openai_api):
    page.goto("/spend/")
    page.get_by_role("link", name="The providers' bills beside it").click()
    page.wait_for_url(re.compile(r"/spend/bills/$"))
    no_axe_violations(page)  # empty, or with the daily run's rows (it ran at start)
    page.get_by_role("button", name=re.compile("Reconcile the last")).click()
    page.wait_for_selector(".bills-table")
    text = page.locator("main").inner_text()
    assert "Reconciled openai" in text
    assert FIRST.isoformat() in text and SECOND.isoformat() in text
    assert "past the threshold" in text and "gpt-4o-2024-08-06" in text
    assert "billed, no route of the gateway" in text  # the fine-tuned model's line
    # the day past the threshold: 13.30 billed against 12.00 counted
    first = page.locator("tr.bill-day.alarm")
    assert first.count() == 1 and "$1.30" in first.inner_text()
    # it read every page with the admin key, which the page never shows
    assert any(q.get("page") for path, q, _ in openai_api.seen if "costs" in path)
    assert ADMIN_KEY not in page.content()
    no_axe_violations(page)
    shots(page, "bills")
