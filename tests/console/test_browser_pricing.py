"""Issue #32 pages in a real browser at laptop and phone widths: the dashboard's
unpriced notice, the routes page's price sources, and the import preview of a route
that exists (replaced by default, the split spelled out when adding). Screenshots go
to SWITCHYARD_SHOTS (a tmp dir by default), not docs/screenshots."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER
from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("SWITCHYARD_SHOTS") or tempfile.gettempdir()) / "switchyard-shots"
WIDTHS = {"laptop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SEED = (
    "from gateway.models import Provider, Route, Deployment; "
    "from django.contrib.auth.models import User; "
    f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r}); "
    "proxy = Provider.objects.create(name='proxy', kind='openai', "
    "base_url='https://llm-proxy.internal.example/v1'); "
    "gpu = Provider.objects.create(name='gpu-box', kind='openai', base_url='http://gpu-box:8000/v1'); "
    "r = Route.objects.create(name='chat'); "
    "Deployment.objects.create(route=r, provider=proxy, model='gpt-4o'); "
    "Deployment.objects.create(route=r, provider=gpu, model='qwen2.5-72b-instruct-awq')"
)
CONFIG = (
    "model_list:\n"
    "  - model_name: chat\n"
    "    litellm_params: {model: openai/gpt-4o-mini, api_base: https://llm-proxy.internal.example/v1}\n"
    "  - model_name: claude\n"
    "    litellm_params: {model: bedrock/anthropic.claude-sonnet-4-20250514-v1:0}\n"
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("pricing")) as gateway:
        gateway.shell(SEED)
        yield gateway


@pytest.mark.parametrize("size", WIDTHS)
def test_unpriced_flags_and_the_reimport_preview(browser, gw: Gateway, size: str) -> None:
    viewport = WIDTHS[size]
    context = browser.new_context(viewport=viewport, base_url=gw.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    SHOTS.mkdir(parents=True, exist_ok=True)

    def fits() -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{page.url} is {width}px wide"

    page.goto("/")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    notice = page.locator("#unpriced-notice")
    assert notice.is_visible()
    text = notice.inner_text()
    assert "1 deployment without a price" in text and "gpu-box/qwen2.5-72b-instruct-awq" in text
    assert "gpt-4o" not in text.replace("qwen", "")  # priced as OpenAI's
    fits()
    page.screenshot(path=str(SHOTS / f"dashboard-unpriced-{size}.png"), full_page=True)

    page.goto("/routes/")
    rows = page.locator(".dep-facts")
    assert "(catalog openai/gpt-4o)" in rows.nth(0).inner_text()
    assert "(unpriced)" in rows.nth(1).inner_text()
    assert page.locator("a.unpriced-flag").is_visible()
    fits()
    page.screenshot(path=str(SHOTS / f"routes-price-source-{size}.png"), full_page=True)

    page.goto("/routes/import/")
    page.fill("#id_config", CONFIG)
    page.click("button:has-text('Preview changes')")
    page.locator(".existing-routes").wait_for()
    assert "Existing routes will be replaced" in page.locator(".existing-routes").inner_text()
    fits()
    page.screenshot(path=str(SHOTS / f"import-existing-replace-{size}.png"), full_page=True)
    page.click("button:has-text('Keep them and add')")
    page.locator("text=Existing routes will split their traffic").wait_for()
    fits()
    page.screenshot(path=str(SHOTS / f"import-existing-add-{size}.png"), full_page=True)
    context.close()
    assert not errors, errors
