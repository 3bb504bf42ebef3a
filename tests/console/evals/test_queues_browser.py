"""The review loop in headless Chromium against a real server: a lead creates score
configs (a bad one first: the error beside its field) and a queue filled from the
journal, sends one more request to it from its log page; a reviewer, in another browser
context, works through it with the keyboard only (number keys, Enter, S, C); the lead
sees the item the reviewer has open as theirs, the scores on the log rows, the
progress and who scored what, and turns the done items into a dataset. axe-core finds
no serious or critical violation on the new pages; screenshots at 1440 and 390 px
(tests/screenshots.py says where)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, shot, sign_in
from tests.console.test_accessibility_browser import serious
from tests.console.test_guardrails_browser import PHONE, WIDE, new_page, overflow
from tests.live import Gateway, running_gateway

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REVIEWER = "rita"
SETUP = f"""
import json
from django.contrib.auth.models import User
from gateway.access import roles
from gateway.models import ApiKey, Membership, RequestBody, RequestLog, Team
User.objects.create_superuser({USER!r}, '', {PASSWORD!r})
rita = User.objects.create_user({REVIEWER!r}, password={PASSWORD!r})
roles.set_role(rita, 'editor')
team = Team.objects.create(name='support')
Membership.objects.create(user=rita, team=team, role='editor')
key = ApiKey.objects.create(name='helpdesk', prefix='sy-help', key_hash='b' * 64, team=team)
talk = [('How do I reset my password?', 'Open Settings, then Security, then Reset password.'),
        ('Can I export my invoices as CSV?', 'Yes: Billing, Invoices, then Export CSV.'),
        ('Is there a dark mode?', 'We do not have one yet.'),
        ('Summarise our refund policy in one line.', 'Refunds within 30 days, no questions asked.')]
for i, (question, answer) in enumerate(talk):
    log = RequestLog.objects.create(request_id=f'req-rv-{{i}}', dialect='openai', endpoint='chat',
        route='support-bot' if i < 3 else 'summaries', status=200, key_id=key.pk, key_name='helpdesk',
        input_tokens=20, output_tokens=12)
    RequestBody.objects.create(log=log,
        inbound_request=json.dumps({{'model': 'support-bot', 'messages': [
            {{'role': 'system', 'content': 'You are the helpdesk assistant.'}},
            {{'role': 'user', 'content': question}}]}}),
        outbound_response=json.dumps({{'choices': [{{'message': {{'role': 'assistant', 'content': answer}}}}]}}))
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("review-queues")) as gateway:
        gateway.shell(SETUP)
        yield gateway


def opened(browser, gw: Gateway, viewport: dict):  # type: ignore[no-untyped-def]
    """A new context's page (a loaded machine: 30 s for a step, not 10)."""
    context, page, errors = new_page(browser, gw, viewport)
    page.set_default_timeout(30_000)
    return context, page, errors


def sign_in_as(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def no_serious_violation(page) -> None:  # type: ignore[no-untyped-def]
    found = serious(page)
    assert not found, f"{page.url}: " + "\n".join(found)


def test_a_lead_defines_a_queue_and_a_reviewer_works_it_with_the_keyboard(
    gw: Gateway,
    browser,
) -> None:
    lead_context, lead, lead_errors = opened(browser, gw, WIDE)
    sign_in(lead)

    # score configs: a bad one shows its error beside the field, nothing saved
    lead.goto("/evals/score-configs/")
    lead.fill("#sc-name", "quality")
    lead.select_option("#sc-type", "numeric")
    lead.fill("#sc-min", "5")
    lead.fill("#sc-max", "1")
    lead.click("text=Save config")
    assert lead.locator("#sc-max-err").inner_text() == "the maximum must be above the minimum (5)"
    assert lead.locator("#sc-name").input_value() == "quality"  # what was typed stays
    lead.fill("#sc-min", "1")
    lead.fill("#sc-max", "5")
    lead.fill("#sc-desc", "How helpful and correct the answer is, 1 (useless) to 5 (perfect).")
    lead.click("text=Save config")
    lead.locator("text=Score config quality saved.").wait_for()
    lead.fill("#sc-name", "verdict")
    lead.select_option("#sc-type", "categorical")
    lead.fill("#sc-cats", "correct\nwrong\nunsure")
    lead.fill("#sc-desc", "Is every fact in the answer right?")
    lead.click("text=Save config")
    lead.locator("#score-configs >> text=correct, wrong, unsure").wait_for()
    shot(lead, "score-configs-1440")
    no_serious_violation(lead)

    # a queue filled from the journal (route support-bot), then one more from a log page
    lead.click(".page-head >> text=Review queues")
    lead.fill("#q-name", "Helpdesk answers")
    lead.fill("#q-desc", "Score each answer; skip what you cannot judge.")
    lead.check("input[name=score_configs] >> nth=0")
    lead.check("input[name=score_configs] >> nth=1")
    lead.fill("#q-route", "support-bot")
    lead.click("text=Create queue")
    lead.locator("text=created with").wait_for()
    queue_url = lead.url
    progress = lead.locator("#queue-progress").inner_text()
    assert "0 of" in progress, progress
    lead.goto("/logs/req-rv-3/")
    lead.select_option("#atq-queue", label="Helpdesk answers")
    lead.click("#add-to-queue >> text=Add to queue")
    lead.locator("text=Added 1 to queue Helpdesk answers").wait_for()
    shot(lead, "log-detail-add-to-queue-1440")
    lead.goto(queue_url)
    assert "0 of 4 done" in lead.locator("#queue-progress").inner_text()
    shot(lead, "queue-1440")
    no_serious_violation(lead)

    # a reviewer in another browser context works through it with the keyboard
    rev_context, rev, rev_errors = opened(browser, gw, WIDE)
    sign_in_as(rev, REVIEWER)
    rev.click("nav summary:has-text('Build')")
    rev.click("nav >> text=Review queues")
    assert rev.locator("#queue-form").count() == 0  # a reviewer defines no queue
    rev.click("#queue-table >> text=Review")
    rev.wait_for_url(re.compile(r"/items/\d+/$"))
    first_item = rev.url
    assert rev.locator("text=How do I reset my password?").is_visible()
    assert rev.locator("text=Open Settings, then Security").is_visible()
    shot(rev, "queue-item-1440")
    no_serious_violation(rev)

    # the lead opening the same item sees it is the reviewer's
    lead.goto(first_item)
    assert lead.locator(f"text={REVIEWER} has this item open").is_visible()
    assert lead.locator("button[value=submit]").is_disabled()

    rev.keyboard.press("4")  # quality 4, then the highlight moves to verdict
    rev.keyboard.press("1")  # verdict: correct
    assert rev.locator("input[name=score-quality][value='4']").is_checked()
    assert rev.locator("input[name=score-verdict][value=correct]").is_checked()
    rev.keyboard.press("Enter")
    rev.wait_for_url(lambda url: url != first_item and "/items/" in url)
    assert rev.locator("text=1 of 4 done").is_visible()
    rev.keyboard.press("2")
    rev.keyboard.press("2")  # verdict: wrong
    rev.keyboard.press("c")
    rev.keyboard.type("Export lives under Reports, not Billing.")
    rev.keyboard.press("Escape")
    rev.keyboard.press("Enter")
    rev.locator("text=2 of 4 done").wait_for()
    rev.keyboard.press("s")  # skip the third
    rev.locator("text=2 of 4 done").wait_for()
    assert rev.locator("text=Refunds within 30 days").is_visible()
    rev.keyboard.press("5")
    rev.keyboard.press("1")
    rev.keyboard.press("Enter")
    rev.locator("#queue-finished").wait_for()
    assert "3 of 4 done" in rev.locator("main").inner_text()
    assert rev_errors == []

    # the lead: scores on the log rows, who scored what, then a dataset in one click
    lead.goto("/logs/")
    row = lead.locator("#log-rows tr", has_text="summaries").first
    assert "quality 5" in row.inner_text() and "verdict correct" in row.inner_text()
    shot(lead, "logs-with-review-scores-1440")
    lead.goto(queue_url)
    assert "3 of 4 done" in lead.locator("#queue-progress").inner_text()
    assert "1 skipped" in lead.locator("#queue-progress").inner_text()
    items = lead.locator("#queue-items").inner_text()
    assert items.count(f"by {REVIEWER}") == 4  # three done, one skipped
    assert "quality: 2" in items and "verdict: wrong" in items
    lead.click("#queue-dataset >> text=Create dataset")
    lead.wait_for_url(re.compile(r"/evals/datasets/\d+/$"))
    lead.locator("text=Created Helpdesk answers (reviewed) with 3 reviewed requests").wait_for()
    assert lead.locator("text=How do I reset my password?").first.is_visible()
    assert lead_errors == []
    rev_context.close()
    lead_context.close()


def test_the_review_pages_at_a_phone_width(gw: Gateway, browser) -> None:
    gw.shell(
        "from console.evals import queues\n"
        "from console.evals.models import AnnotationQueue, QueueItem\n"
        "from gateway.models import RequestLog, ScoreConfig\n"
        "c, _ = ScoreConfig.objects.get_or_create(name='helpful', data_type='boolean')\n"
        "q, _ = AnnotationQueue.objects.get_or_create(name='Phone check')\n"
        "q.score_configs.add(c)\n"
        "queues.add_logs(q, list(RequestLog.objects.values_list('id', flat=True)), 'log')\n"
    )
    context, page, errors = opened(browser, gw, PHONE)
    sign_in(page)
    for path in ("/evals/score-configs/", "/evals/queues/"):
        page.goto(path)
        assert overflow(page) == 0, path
        shot(page, f"{path.strip('/').replace('/', '-')}-390")
    page.click("#queue-table >> text=Phone check")
    assert overflow(page) == 0
    shot(page, "queue-390")
    page.click("text=Start reviewing")
    page.wait_for_url(re.compile(r"/items/\d+/$"))
    assert overflow(page) == 0
    shot(page, "queue-item-390")
    page.keyboard.press("1")  # helpful: true
    page.keyboard.press("Enter")
    page.locator("text=1 of").first.wait_for()
    assert errors == []
    context.close()
