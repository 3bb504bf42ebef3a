"""Comparing a prompt's versions on a dataset in headless Chromium against a real server:
from the prompt's page the two newest versions are ticked; the form takes a dataset, a
route and scorers and starts one experiment per version; the comparison page polls
until both are done, then shows each version's totals (scores in their scales, cost,
latency) and every row's answers side by side (v1's user message rendered from the
row's variables, v2's system prompt followed by the row's own question). axe-core finds
no serious or critical violation, in light and dark mode.

Then the pages #66 added last round (review queues, continuous evaluators, sign-in
settings) and this one, at 1440 and 390 px in light and dark mode: nothing wider than
the window (the screenshots go to the scratch folder, tests/screenshots.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, sign_in
from tests.console.test_accessibility_browser import serious
from tests.console.test_guardrails_browser import PHONE, WIDE, overflow
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = f"""
import json
from django.contrib.auth.models import User
from console.evals import datasets, queues
from console.evals.models import AnnotationQueue, Evaluator, QueueItem
from console.evals.parsing import ParsedRow
from gateway.features.prompts import versions
from gateway.models import RequestBody, RequestLog, ScoreConfig
user = User.objects.create_superuser({USER!r}, '', {PASSWORD!r})
prompt, _ = versions.create('support.triage', versions.draft(
    [{{'role': 'system', 'content': 'You sort support tickets.'}},
     {{'role': 'user', 'content': 'Product {{{{product}}}}: {{{{input}}}}'}}], 'echo'),
    user=user, labels=('production',))
versions.add_version(prompt, versions.draft(
    [{{'role': 'system', 'content': 'You sort support tickets for {{{{product}}}}. Be terse.'}}],
    note='system prompt only'), by={USER!r}, labels=('staging',))
tickets = [('Billing', 'I was charged twice this month'),
           ('Mobile app', 'The app crashes when I open settings on Android 14'),
           ('API', 'What is the rate limit for the batch endpoint?')]
datasets.create('tickets', [ParsedRow([{{'role': 'user', 'content': q}}],
    reference='Echo: Product ' + p + ': ' + q, metadata={{'product': p}}) for p, q in tickets])
ScoreConfig.objects.create(name='quality', data_type='numeric', min_value=1, max_value=5,
    description='How helpful the answer is.')
ScoreConfig.objects.create(name='on_topic', data_type='boolean')
q = AnnotationQueue.objects.create(name='Helpdesk answers with a long name to wrap',
    description='Score each answer; skip what you cannot judge.', created_by={USER!r})
q.score_configs.set(ScoreConfig.objects.all())
log = RequestLog.objects.create(request_id='req-pc-1', dialect='openai', endpoint='chat',
    route='echo', status=200, input_tokens=20, output_tokens=12)
RequestBody.objects.create(log=log, inbound_request=json.dumps({{'model': 'echo', 'messages': [
    {{'role': 'user', 'content': 'My invoice for March shows a charge I do not recognise, ' * 3}}]}}),
    outbound_response=json.dumps({{'choices': [{{'message': {{'role': 'assistant',
    'content': 'That charge is the annual plan renewal; a refund is possible within 30 days.'}}}}]}}))
QueueItem.objects.create(queue=q, log=log, source='log')
Evaluator.objects.create(name='helpdesk-quality', route='echo', score_name='quality',
    scorer={{'kind': 'judge', 'route': 'echo', 'mode': 'pointwise',
             'rubric': 'Grade the answer 1-10.'}}, status='paused', created_by={USER!r})
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("prompt-compare")) as gateway:
        gateway.shell(SETUP)
        yield gateway


@pytest.fixture(scope="module")
def signed_in(browser, gw: Gateway) -> dict:  # type: ignore[no-untyped-def]
    """The operator's session (cookies), signed in once through the login form: each
    context starts from it instead of signing in again (three page loads, the
    dashboard's among them: ~1.5 s a context on a loaded 2-core runner)."""
    context, page, errors = opened(browser, gw, WIDE, {})
    sign_in(page)
    state = context.storage_state()
    context.close()
    assert not errors, errors
    return state


def opened(browser, gw: Gateway, viewport: dict, signed_in: dict, scheme: str = "light"):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport=viewport, base_url=gw.url, color_scheme=scheme, storage_state=signed_in or None
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(screenshot_dir() / f"{name}.png"), full_page=True)


def no_serious_violation(page) -> None:  # type: ignore[no-untyped-def]
    found = serious(page)
    assert not found, f"{page.url}: " + "\n".join(found)


def test_compare_two_versions_on_a_dataset(gw: Gateway, browser, signed_in: dict) -> None:
    context, page, errors = opened(browser, gw, WIDE, signed_in)
    page.goto("/prompts/support.triage/")
    form = page.locator("#compare-on-dataset")
    assert form.locator("input[name=v]:checked").count() == 2  # the two newest
    form.locator("text=Choose a dataset…").click()
    page.wait_for_url(re.compile(r"/evals/prompts/support.triage/compare/\?v=2&v=1$"))
    no_serious_violation(page)
    page.select_option("#pc-dataset", label="tickets (v1)")
    page.select_option("#pc-route", "echo")
    page.check("#pcs-contains")
    page.check("#pcs-judge")
    page.select_option("select[name=judge_route]", "echo")
    page.select_option("select[name=judge_config]", "quality")
    shot(page, "prompt-compare-form-1440")
    page.click("text=Run the versions")
    page.wait_for_url(re.compile(r"/compare/[0-9a-f]{8}/$"))
    comparison = page.url
    # the progress card polls its partial and reloads the page once both are done
    page.locator("#version-totals tbody tr").first.wait_for()
    page.wait_for_function("() => !document.querySelector('#progress[hx-get]')", timeout=120_000)
    page.locator("#progress >> text=finished").wait_for()
    heading = page.locator("h1").inner_text()
    assert heading == "support.triage: v1 vs v2", heading
    totals = page.locator("#version-totals tbody tr")
    assert totals.count() == 2
    v1, v2 = totals.nth(0).inner_text(), totals.nth(1).inner_text()
    assert "v1" in v1 and "100% pass" in v1, v1  # contains: v1 echoes the reference
    assert "v2" in v2 and "0% pass" in v2, v2
    rows = page.locator("#compare-rows tbody tr")
    assert rows.count() == 3
    second = rows.nth(1).inner_text()
    assert "Echo: Product Mobile app: The app crashes" in second  # v1's rendered message
    assert "Echo: The app crashes when I open settings" in second  # v2, then the row's own
    assert page.locator("#compare-rows >> text=Contains: pass").count() == 3
    shot(page, "prompt-comparison-1440")
    no_serious_violation(page)
    page.goto("/evals/prompts/support.triage/compare/")
    assert page.locator(f"a[href='{comparison.replace(gw.url, '')}']").count() == 1
    context.close()
    assert not errors, errors


PAGES = (
    "/evals/queues/",
    "/evals/score-configs/",
    "/evals/evaluators/",
    "/settings/sign-in/",
    "/prompts/support.triage/",
    "/evals/prompts/support.triage/compare/",
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_last_rounds_pages_fit_a_phone_and_a_wide_screen(
    gw: Gateway,
    browser,
    signed_in: dict,
    scheme: str,
) -> None:
    found = gw.shell(
        "from console.evals.models import AnnotationQueue, Evaluator, Experiment, QueueItem\n"
        "e = Experiment.objects.filter(columns__0__prompt__name='support.triage').first()\n"
        "print(AnnotationQueue.objects.get().pk, QueueItem.objects.get().pk,"
        " Evaluator.objects.get().pk, e.columns[0]['prompt']['run'] if e else '')"
    )
    queue, item, evaluator, run = found.strip().splitlines()[-1].split(" ")
    pages = [
        *PAGES,
        f"/evals/queues/{queue}/",
        f"/evals/queues/{queue}/items/{item}/",
        f"/evals/evaluators/{evaluator}/",
    ]
    if run:
        pages.append(f"/evals/prompts/support.triage/compare/{run}/")
    for viewport, width in ((WIDE, 1440), (PHONE, 390)):
        context, page, errors = opened(browser, gw, viewport, signed_in, scheme)
        for path in pages:
            page.goto(path)
            shot(page, f"round5-{path.strip('/').replace('/', '-')}-{width}-{scheme}")
            assert overflow(page) == 0, f"{path} at {width} px ({scheme})"
            if width == 1440 and scheme == "dark":
                no_serious_violation(page)
        context.close()
        assert not errors, errors
