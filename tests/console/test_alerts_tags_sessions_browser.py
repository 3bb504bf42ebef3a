"""Budget alerts, request tags and sessions in headless Chromium against a live gateway
(its worker loop raising alerts every second): the Alerts page sets a webhook (a real
receiver on 127.0.0.1, allowed by the operator's setting), sends a test message and
shows the alert the loop raised and delivered; the log list filters by tag as one types
and links a session, whose page reads as one conversation with its totals. Screenshots
at 1440 and 390 px go to the scratch folder (tests/screenshots.py)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.browser_support import CHROMIUM, WIDE, opened_page, sign_in
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser


SEED = """
from decimal import Decimal
from django.contrib.auth.models import User
from django.utils import timezone
from gateway.models import ApiKey, SpendRollup
from gateway.models.alerts import BudgetAlert
User.objects.create_superuser('ops', '', 'pw-123456789')
key = ApiKey.objects.create(name='research-bot', prefix='sy-res1', key_hash='r' * 64,
    budget_usd=Decimal('10'), budget_period='month')
SpendRollup.objects.create(hour=timezone.now().replace(minute=0, second=0, microsecond=0),
    key_id=key.pk, key_name=key.name, requests=40, cost_usd=Decimal('8.6'))
BudgetAlert.objects.create(scope='team', subject_id=99, subject_name='old-team', period='m2020-01',
    threshold=100, spend_usd=Decimal('51'), budget_usd=Decimal('50'), status='failed', attempts=8,
    last_error='hooks.example.com answered 502')
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "url": f"http://127.0.0.1:{server.server_address[1]}/services/T1/B2/hooksecret",
        "got": got,
    }
    server.shutdown()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {"SWITCHYARD_ALERT_EVERY_SECONDS": "1", "SWITCHYARD_ALERT_WEBHOOK_PRIVATE": "1"}
    with running_gateway(tmp_path_factory.mktemp("alerts"), env=env) as gateway:
        gateway.shell(SEED)
        yield gateway


@pytest.fixture(scope="module")
def traffic(gw: Gateway) -> None:
    """A tagged two-turn session, and untagged requests of another end user."""
    auth = {"authorization": f"Bearer {gw.master_key}"}
    session = {"x-switchyard-user": "alice@example.com", "x-switchyard-session": "pair-42"}
    first = [{"role": "user", "content": "Write a haiku about switchyards."}]
    turns = [
        (first, {"x-switchyard-tags": "team:docs,poetry"}),
        (
            [
                *first,
                {"role": "assistant", "content": "Echo: Write a haiku about switchyards."},
                {"role": "user", "content": "Now one about trains at night."},
            ],
            {},
        ),
    ]
    for messages, extra in turns:
        body = {"model": "echo", "messages": messages, "metadata": {"tags": ["feature:haiku"]}}
        reply = httpx.post(
            gw.url + "/v1/chat/completions", json=body, headers={**auth, **session, **extra}
        )
        assert reply.status_code == 200, reply.text
    for n in range(3):
        reply = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": f"ping {n}"}]},
            headers={**auth, "x-switchyard-user": "bob"},
        )
        assert reply.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the journal writes in the background
        items = httpx.get(
            gw.url + "/api/logs/", params={"session": "pair-42"}, headers=auth
        ).json()["items"]
        if len(items) == 2:
            return
        time.sleep(0.3)
    raise AssertionError("the session's requests never reached the journal")


@pytest.fixture
def page(browser, gw: Gateway, traffic):
    with opened_page(browser, gw, WIDE) as page:
        sign_in(page)
        yield page


def shots(page, name: str) -> None:
    """The page at 1440 px and at 390 px (a phone), whole."""
    folder = screenshot_dir()
    page.screenshot(path=str(folder / f"{name}-1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(folder / f"{name}-390.png"), full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1440, "height": 900})
    assert width <= 390 + 1, f"{name}: the page is {width}px wide on a phone"


def test_the_alerts_page_sets_the_webhook_tests_it_and_shows_the_alert_sent(page, receiver):
    page.goto("/alerts/")
    assert "hooks.example.com answered 502" in page.inner_text("#history")
    page.fill("#id_webhook_url", receiver["url"])
    page.fill("#id_default_thresholds", "50, 80, 100")
    page.click("form.form button[type=submit]")
    page.wait_for_selector(".alert.ok")
    assert "hooksecret" not in page.content()  # shown by its host only
    page.click("text=Send a test message")
    page.wait_for_selector("text=The test message arrived.")
    assert any(m["alert"] == {"test": True} for m in receiver["got"])
    # the loop (every second, after its first 5 s) raises it; raised before the webhook
    # was set it is recorded as unsent and is sent on request
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto("/alerts/")
        row = page.locator("#history tr", has_text="research-bot").filter(has_text="80%")
        text = row.first.inner_text() if row.count() else ""
        if "sent" in text.split() or " sent" in text:
            break
        if "no webhook" in text:
            row.first.locator("text=Send again").click()
            page.wait_for_selector("text=sent again at the next round")
        time.sleep(0.5)
    else:
        raise AssertionError(f"no sent alert: {page.inner_text('#history')}")
    assert "80%" in row.first.inner_text()  # 86% of its budget: 80, 50 superseded
    posted = [m for m in receiver["got"] if "alert" in m and m["alert"].get("threshold") == 80]
    assert posted and "research-bot" in posted[0]["text"]
    shots(page, "alerts")


def test_the_logs_filter_by_tag_and_a_session_reads_as_a_conversation(page):
    page.goto("/logs/")
    page.fill("#id_tag", "poetry")
    page.wait_for_url(re.compile(r"tag=poetry"))
    page.wait_for_function(
        "() => document.querySelectorAll('#log-rows tr:not(.no-rows)').length === 1"
    )
    assert "poetry" in page.inner_text("#log-rows")
    page.fill("#id_tag", "feature:haiku")
    page.wait_for_function(
        "() => document.querySelectorAll('#log-rows tr:not(.no-rows)').length === 2"
    )
    shots(page, "logs-tag-filter")

    page.click("#log-rows a[title^='session']")
    page.wait_for_url(re.compile(r"/sessions/pair-42/"))
    steps = page.locator(".thread .step")
    assert steps.count() == 2
    assert "Write a haiku" in steps.nth(0).inner_text()
    second = steps.nth(1).inner_text()
    # only what is new: the earlier question and its answer are the step above
    assert "Now one about trains at night." in second and "Write a haiku" not in second
    assert "2 earlier messages" in second
    assert "2 requests" in page.inner_text(".page-head")
    shots(page, "session")

    page.click(".page-head a:text('alice@example.com')")
    page.wait_for_url(re.compile(r"end_user=alice"))
    assert page.locator("#log-rows tr:not(.no-rows)").count() == 2
    detail = page.locator("#log-rows a").first.get_attribute("href")
    page.goto(detail)
    assert page.locator(".stat.attribution a", has_text="session pair-42").count() == 1
    assert page.locator(".log-tags .pill", has_text="feature:haiku").count() == 1
    shots(page, "log-detail-attribution")
