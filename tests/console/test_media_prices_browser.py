"""Image and audio prices in a real browser at laptop and phone widths: the routes
page's per-unit prices, the deployment form's unit-price fields (set one, see it in
force) and the catalog browser's media models; nothing wider than the screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

WIDTHS = {"laptop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SEED = (
    "from gateway.models import Provider, Route, Deployment; "
    "from django.contrib.auth.models import User; "
    f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r}); "
    "oa = Provider.objects.create(name='openai', kind='openai', base_url='https://api.openai.com/v1'); "
    "box = Provider.objects.create(name='gpu-box', kind='openai', base_url='http://gpu-box:8000/v1'); "
    "r = Route.objects.create(name='studio'); "
    "Deployment.objects.create(route=r, provider=oa, model='dall-e-3'); "
    "Deployment.objects.create(route=r, provider=oa, model='gpt-image-1'); "
    "s = Route.objects.create(name='ears'); "
    "Deployment.objects.create(route=s, provider=oa, model='whisper-1'); "
    "Deployment.objects.create(route=s, provider=box, model='Systran/faster-whisper-large-v3')"
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("media-prices")) as gateway:
        gateway.shell(SEED)
        yield gateway


@pytest.mark.parametrize("size", WIDTHS)
def test_media_prices_shown_and_set_in_the_console(browser, gw: Gateway, size: str) -> None:
    viewport = WIDTHS[size]
    context = browser.new_context(viewport=viewport, base_url=gw.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    shots = screenshot_dir()

    def fits() -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{page.url} is {width}px wide"

    page.goto("/")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))

    page.goto("/routes/")
    studio = page.locator(".dep", has_text="dall-e-3")
    assert "$0.04-$0.12 per image (by size and quality)" in studio.inner_text()
    local = page.locator(".dep", has_text="faster-whisper")
    before = "no price: set a price per second" if size == "laptop" else "$0.0003 per second"
    assert before in local.inner_text()  # (the phone run comes after the laptop's edit)
    fits()
    page.screenshot(path=str(shots / f"media-prices-routes-{size}.png"), full_page=True)

    local.get_by_role("link", name="Edit").click()
    field = page.locator("#id_price_per_second")
    field.wait_for()
    price = "0.0003" if size == "laptop" else "0.0004"
    field.fill(price)
    fits()
    page.screenshot(path=str(shots / f"media-prices-form-{size}.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Save")).click()
    local = page.locator(".dep", has_text="faster-whisper")
    local.get_by_text(f"${price} per second").wait_for()
    assert "set on the deployment" in local.inner_text()

    page.goto("/catalog/?mode=audio_transcription")
    row = page.locator("tr", has_text="whisper-large-v3-turbo")
    assert "$0.00001111 per second" in row.inner_text()
    fits()
    page.screenshot(path=str(shots / f"media-prices-catalog-{size}.png"), full_page=True)
    assert not errors
    context.close()
