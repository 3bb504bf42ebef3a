"""The Prompts page, a prompt's versions, the diff between two versions and the scores
on a request's page, in headless Chromium against a real server, at a laptop's width
(1440 px) and a phone's (390 px), with no part of a page wider than the window.
Screenshots: tests/screenshots.py says where."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, shot, sign_in
from tests.console.test_guardrails_browser import PHONE, WIDE, new_page, overflow
from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

SETUP = f"""
from django.contrib.auth.models import User
from gateway.models import RequestLog, RequestBody
from gateway.features.prompts import versions
User.objects.create_superuser({USER!r}, '', {PASSWORD!r})
p, _ = versions.create('support.triage', versions.draft([
    {{'role': 'system', 'content': 'You answer tickets for {{{{company}}}}. Be polite and precise.'}},
    {{'role': 'user', 'content': 'Ticket {{{{ticket_id}}}}: {{{{body}}}}'}},
], params={{'temperature': 0.2}}), description='first answer to a support ticket', labels=('production',))
versions.add_version(p, versions.draft([
    {{'role': 'system', 'content': 'You answer tickets for {{{{company}}}}. Be brief: three sentences at most.'}},
    {{'role': 'user', 'content': 'Ticket {{{{ticket_id}}}}: {{{{body}}}}'}},
], model='chat', params={{'temperature': 0.2, 'max_tokens': 300}}, note='shorter answers'), labels=('staging',))
versions.create('release-notes', versions.draft('Summarise these commits: {{{{commits}}}}'))
log = RequestLog.objects.create(request_id='req-browser-1', dialect='openai', endpoint='chat', route='chat',
    status=200, prompt_name='support.triage', prompt_version=1, input_tokens=40, output_tokens=12)
RequestBody.objects.create(log=log, inbound_request='{{"model": "chat", "prompt_id": "support.triage"}}',
    outbound_response='{{}}')
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("prompts-console")) as gateway:
        gateway.shell(SETUP)
        yield gateway


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440", "390"])
def test_prompts_versions_and_the_diff(gw: Gateway, browser, viewport: dict) -> None:
    context, page, errors = new_page(browser, gw, viewport)
    sign_in(page)
    width = viewport["width"]
    page.goto("/prompts/")
    assert page.locator("table.prompts >> text=support.triage").is_visible()
    assert page.locator("text=/production → v[12]/").first.is_visible()  # v2 once moved
    shot(page, f"prompts-{width}")
    assert overflow(page) == 0

    page.click("table.prompts >> text=support.triage")
    page.wait_for_url(re.compile(r"/prompts/support.triage/$"))
    assert page.locator("details#v2[open]").is_visible()
    # move production to v2 from the page
    page.select_option(".label-form select[name=version]", "2")
    page.click("text=Point the label here")
    page.locator("text=production now points at version 2").wait_for()
    shot(page, f"prompt-detail-{width}")
    assert overflow(page) == 0

    page.click("text=Compare versions")
    page.wait_for_url(re.compile(r"/diff/"))
    assert page.locator("tr.removed", has_text="Be polite and precise").is_visible()
    assert page.locator("tr.added", has_text="three sentences at most").is_visible()
    # choosing other versions swaps the diff in place (htmx) and keeps the URL
    page.select_option("select[name=from]", "2")
    page.locator(".diff-summary", has_text="the same text").wait_for()
    assert "from=2" in page.url
    page.select_option("select[name=from]", "1")
    page.locator(".diff-summary .added-count", has_text="+").wait_for()
    shot(page, f"prompt-diff-{width}")
    assert overflow(page) == 0
    assert errors == []
    context.close()


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440", "390"])
def test_thumbs_and_a_comment_on_a_request(gw: Gateway, browser, viewport: dict) -> None:
    context, page, errors = new_page(browser, gw, viewport)
    sign_in(page)
    page.goto("/logs/req-browser-1/")
    assert page.locator(".log-prompt >> text=support.triage v1").is_visible()  # its own line
    page.fill("#log-scores input[name=comment]", "answered the wrong ticket")
    page.click("#log-scores button[value=down]")
    page.locator("#log-scores .score-list", has_text="answered the wrong ticket").wait_for()
    assert page.locator("#log-scores button[value=down]").get_attribute("aria-pressed") == "true"
    assert "/logs/req-browser-1/" in page.url  # swapped in place
    shot(page, f"log-scores-{viewport['width']}")
    assert overflow(page) == 0
    page.goto("/logs/?score=thumbs%3Ddown")
    shot(page, f"logs-by-score-{viewport['width']}")
    assert page.locator("a[href='/logs/req-browser-1/']").first.is_visible()
    page.goto("/scores/?name=thumbs&window=24h")
    page.locator("#scores-chart[data-drawn]").wait_for(state="attached")
    shot(page, f"scores-{viewport['width']}")
    assert overflow(page) == 0
    assert errors == []
    context.close()
