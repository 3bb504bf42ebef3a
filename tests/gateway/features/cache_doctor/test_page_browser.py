"""The cache doctor's page in Chromium at laptop and phone widths: the findings with
their fix, the route that writes without reading, the volatile billing header named,
and no table running off the page."""

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
import json, time
from decimal import Decimal
from django.contrib.auth.models import User
from gateway import journal
from gateway.journal import Record
from gateway.models import ApiKey, Provider, Route, Deployment
User.objects.create_superuser({user!r}, '', {password!r})
provider = Provider.objects.create(name='anthropic', kind='anthropic', base_url='http://127.0.0.1:9')
for name in ('claude-code', 'steady-agent'):
    Deployment.objects.create(route=Route.objects.create(name=name), provider=provider,
        model='claude-sonnet-5', input_price=Decimal(3), cache_read_price=Decimal('0.3'),
        cache_write_price=Decimal('3.75'))
key = ApiKey.objects.create(name='codex', prefix='sk-sy-codex', key_hash='c' * 64)
deployments = {{d.route.name: d.pk for d in Deployment.objects.select_related('route')}}
system = 'You are a coding agent. ' * 80
def body(stamp, turns):
    return json.dumps({{'model': 'claude', 'system': [
        {{'type': 'text', 'text': f'x-anthropic-billing-header: cc_version=2.1; cch={{stamp}};'}},
        {{'type': 'text', 'text': system}}],
        'messages': [{{'role': 'user', 'content': f'turn {{i}}'}} for i in range(turns)]}}).encode()
now = time.time() - 900
records = []
for i in range(8):
    records.append(Record(request_id=f'v{{i}}', created_at=now + 60 * i, dialect='anthropic',
        endpoint='messages', route='claude-code', deployment_id=deployments['claude-code'],
        key_id=key.pk, key_name='codex', session='cc-session-1', status=200, input_tokens=40,
        cache_write_tokens=30000, prompt_cache_breakpoints='client: system',
        inbound_request=body(f'{{i:05x}}', i + 1)))
    records.append(Record(request_id=f's{{i}}', created_at=now + 60 * i, dialect='anthropic',
        endpoint='messages', route='steady-agent', deployment_id=deployments['steady-agent'],
        key_id=key.pk, key_name='codex', session='steady-1', status=200, input_tokens=40,
        cache_read_tokens=0 if i == 0 else 30000, cache_write_tokens=30000 if i == 0 else 300,
        prompt_cache_breakpoints='auto: system', inbound_request=body('same', i + 1)))
journal.write_batch(records)
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("doctor")) as gateway:
        gateway.shell(SETUP.format(user=USER, password=PASSWORD))
        yield gateway


@pytest.mark.parametrize("width", [1440, 390])
def test_the_doctor_page_names_what_loses_money(gw: Gateway, width: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": 900}, base_url=gw.url)
        page.goto("/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))
        page.goto("/spend/caching/")
        findings = page.locator(".doctor-findings").inner_text()
        assert "claude-code: writes without reads" in findings
        assert "cch=0000[0→1]" in findings and "Fix: keep what changes per request" in findings
        assert "steady-agent" not in findings
        lost = page.locator(".stat.alarm").inner_text()
        assert "7 warm turns not read from cache" in lost
        for table in page.locator(".card .table-wrap").all():
            box = table.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width + 1
        page.screenshot(path=str(screenshot_dir() / f"cache-doctor-{width}.png"), full_page=True)
        browser.close()
