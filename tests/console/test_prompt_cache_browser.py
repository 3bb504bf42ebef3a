"""The request log detail's prompt-cache card and the route form's switch, in Chromium
at laptop and phone widths (screenshots go to a temporary directory)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "ops", "pw-123456789"
SHOTS = Path(os.environ.get("SWITCHYARD_SHOTS") or tempfile.mkdtemp(prefix="shots-"))


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("console")) as gateway:
        gateway.shell(
            "from django.contrib.auth.models import User; "
            "from gateway.models import RequestLog; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r}); "
            "RequestLog.objects.create(request_id='req-cached', dialect='openai', "
            "endpoint='chat', status=200, route='claude', provider='anthropic', "
            "upstream_model='claude-sonnet-4-5', input_tokens=40, output_tokens=12, "
            "cache_read_tokens=2612, cache_write_tokens=1250, cost_usd='0.005652', "
            "prompt_cache_breakpoints='auto: tools, system, messages[1]')"
        )
        yield gateway


@pytest.mark.parametrize("width", [1440, 390])
def test_log_detail_shows_the_prompt_cache(gw: Gateway, width: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": 900}, base_url=gw.url)
        page.goto("/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))
        page.goto("/logs/req-cached/")
        card = page.locator(".card.prompt-cache")
        assert card.is_visible()
        assert "2612 tokens" in card.inner_text() and "1250 tokens" in card.inner_text()
        assert "auto: tools, system, messages[1]" in card.inner_text()
        box = card.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width  # no overflow
        page.screenshot(path=str(SHOTS / f"log-detail-{width}.png"), full_page=True)
        browser.close()
