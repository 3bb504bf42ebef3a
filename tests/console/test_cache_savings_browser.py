"""The dashboard's, routes page's and keys page's prompt-cache figures (hit rate, read
and written tokens, dollars saved) in Chromium at laptop and phone widths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "ops", "pw-123456789"
SETUP = """
import time
from decimal import Decimal
from django.contrib.auth.models import User
from gateway import journal
from gateway.journal import Record
from gateway.models import ApiKey, Provider, Route, Deployment
User.objects.create_superuser({user!r}, '', {password!r})
provider = Provider.objects.create(name='anthropic', kind='anthropic', base_url='http://127.0.0.1:9')
route = Route.objects.create(name='claude-agent')
Deployment.objects.create(route=route, provider=provider, model='claude-sonnet-4-5')
key = ApiKey.objects.create(name='codex', prefix='sk-sy-codex', key_hash='c' * 64)
now = time.time()
journal.write_batch([
    Record(request_id=f'r{{i}}', created_at=now - 60 * i, dialect='openai', endpoint='chat',
           route='claude-agent', key_id=key.pk, key_name='codex', status=200, latency_ms=900.0,
           input_tokens=40, output_tokens=120, cache_read_tokens=0 if i == 0 else 24000,
           cache_write_tokens=24000 if i == 0 else 300, cost_usd=Decimal('0.0123'),
           cache_saved_usd=Decimal('-0.018') if i == 0 else Decimal('0.06387'))
    for i in range(10)
])
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("console")) as gateway:
        gateway.shell(SETUP.format(user=USER, password=PASSWORD))
        yield gateway


@pytest.mark.parametrize("width", [1440, 390])
def test_prompt_cache_money_on_the_pages(gw: Gateway, width: int) -> None:
    from playwright.sync_api import sync_playwright

    shots = screenshot_dir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": 900}, base_url=gw.url)
        page.goto("/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))

        for window in ("1h", "24h"):
            page.goto(f"/?window={window}")
            rate = page.locator(".stat.prompt-cache")
            saved = page.locator(".stat.cache-saved")
            assert rate.is_visible() and saved.is_visible()
            # 9 x 24000 read of 10 x 40 input + 216000 read + 24000 + 9 x 300 written
            tokens = page.locator(".stat.cached-tokens")
            assert "88.9%" in rate.inner_text() and "of 243.1k tokens" in rate.inner_text()
            assert "216.0k read" in tokens.inner_text() and "26.7k written" in tokens.inner_text()
            assert "$0.56" in saved.inner_text()  # 9 x 0.06387 - 0.018
            for card in (rate, tokens, saved):
                box = card.bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
            row = page.locator(".by-route tbody tr").first
            assert "88.9% · $0.56" in row.inner_text()
            page.screenshot(path=str(shots / f"cache-savings-dashboard-{window}-{width}.png"),
                            full_page=True)  # fmt: skip

        page.goto("/routes/")
        usage = page.locator(".route-usage")
        assert usage.is_visible()
        assert "88.9% of prompt tokens" in usage.inner_text()
        assert "$0.56 saved" in usage.inner_text()
        box = usage.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        page.screenshot(path=str(shots / f"cache-savings-routes-{width}.png"), full_page=True)

        page.goto("/keys/")
        assert "88.9% · $0.56" in page.locator("tr", has_text="codex").inner_text()
        page.screenshot(path=str(shots / f"cache-savings-keys-{width}.png"), full_page=True)
        browser.close()
