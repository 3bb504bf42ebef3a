"""Issue #66 end to end in headless Chromium against a real server whose routes are
served by an OpenAI-compatible upstream on 127.0.0.1: a versioned prompt opened in the
playground shows a field per ``{{variable}}`` and runs filled in (the upstream never
sees a placeholder); the evaluator watching the route scores those requests in the
server's background loop, and the judge's reasoning and a link to its call are on the
request's page, on the evaluator's page (with its trend) and in the Evaluators list;
the prompt's page shows its versions' numbers. At 1440 and 390 px, nothing wider than
the window. Screenshots: tests/screenshots.py says where."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, shot, sign_in
from tests.console.test_guardrails_browser import PHONE, WIDE, new_page, overflow
from tests.live import MASTER_KEY, Gateway, running_gateway

from .judge_upstream import ANSWER, JUDGE_REPLY, Upstream, judge_upstream

pytestmark = pytest.mark.browser


def setup_code(upstream_url: str) -> str:
    return f"""
from decimal import Decimal
from django.contrib.auth.models import User
from gateway.models import Deployment, Provider, Route
from gateway.features.prompts import versions
from console.evals import continuous
User.objects.create_superuser({USER!r}, '', {PASSWORD!r})
provider = Provider.objects.create(name='local', kind='openai', base_url={upstream_url!r})
provider.set_secret('sk-local')
provider.save()
for name in ('chat', 'judge'):
    route = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(route=route, provider=provider, model=name + '-model',
        input_price=Decimal('10'), output_price=Decimal('10'))
versions.create('support.triage', versions.draft([
    {{'role': 'system', 'content': 'You answer tickets for {{{{company}}}}.'}},
    {{'role': 'user', 'content': 'Ticket {{{{ticket_id}}}}: what is the capital of France?'}},
]), labels=('production',))
continuous.save(continuous.clean({{
    'name': 'support-quality', 'route': 'chat', 'sample_rate': 1, 'budget_usd_per_day': '2',
    'scorer': {{'kind': 'judge', 'route': 'judge'}}, 'alert_below': 0.5,
}}), by={USER!r})
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with judge_upstream() as state:
        yield state


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {"SWITCHYARD_EVALUATORS_EVERY_SECONDS": "0.5"}
    with running_gateway(tmp_path_factory.mktemp("evaluators"), env=env) as gateway:
        gateway.shell(setup_code(upstream.url))
        yield gateway


SCORED = """
from gateway.models import Score
for s in Score.objects.filter(author='evaluator:support-quality').select_related('log'):
    print('SCORED', s.log.request_id, s.log.from_playground, s.judge_request_id)
"""


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440", "390"])
def test_a_prompt_with_variables_runs_and_the_evaluator_says_why(
    gw: Gateway,
    upstream: Upstream,
    browser,
    viewport: dict,
) -> None:
    context, page, errors = new_page(browser, gw, viewport)
    width = viewport["width"]
    before = gw.shell(SCORED).count("SCORED")
    # an application's request naming the prompt (its version's numbers on its page)
    answer = httpx.post(
        f"{gw.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "chat", "prompt_id": "support.triage",
              "prompt_variables": {"company": "Initech", "ticket_id": "7"}},
        timeout=20,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    sign_in(page)
    page.goto("/playground/?prompt=support.triage")
    fields = page.locator("#pg-variables [data-variable]")
    assert fields.count() == 2
    page.fill('[data-variable="company"]', f"Acme {width}")
    page.fill('[data-variable="ticket_id"]', f"T-{width}")
    rows = page.locator("#pg-column-rows > li")
    for n in range(rows.count()):
        rows.nth(n).locator("select[name=route]").select_option("chat")
    shot(page, f"playground-variables-{width}")
    assert overflow(page) == 0
    asked_before = len(upstream.asked)
    page.click("#pg-run")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-state=done]').length >= 2",
        timeout=20_000,
    )
    assert page.locator("#pg-grid .pg-col .pg-text").first.inner_text() == ANSWER
    sent = [b for b in upstream.asked[asked_before:] if "judge" not in str(b.get("model"))]
    assert sent, "the playground's requests never reached the upstream"
    for body in sent:
        text = " ".join(str(m["content"]) for m in body["messages"])
        assert f"You answer tickets for Acme {width}." in text and f"Ticket T-{width}:" in text
        assert "{{" not in text

    # the evaluator scores them in the server's background loop, after the fact
    out = gw.shell_until(SCORED, lambda o: o.count("SCORED") >= before + 3, timeout=30)
    scored = [line.split() for line in out.splitlines() if line.startswith("SCORED")]
    assert len(scored) >= before + 3, gw.log()[-3000:]
    request_id, judge_id = next((s[1], s[3]) for s in reversed(scored) if s[2] == "True")
    page.goto(f"/logs/{request_id}/")
    reasoning = page.locator("#log-scores .judge-reasoning")
    reasoning.wait_for()
    assert JUDGE_REPLY in reasoning.inner_text()
    assert "support-quality: 0.80" in page.locator("#log-scores").inner_text()
    reasoning.scroll_into_view_if_needed()
    shot(page, f"log-judge-reasoning-{width}")
    assert overflow(page) == 0
    page.click("#log-scores .judge-reasoning >> text=its call")
    page.wait_for_url(re.compile(rf"/logs/{re.escape(judge_id)}/$"))
    assert "judge" in page.locator("main").inner_text()

    page.goto("/evals/evaluators/")
    assert page.locator("table.evaluators >> text=support-quality").is_visible()
    shot(page, f"evaluators-{width}")
    assert overflow(page) == 0
    page.click("table.evaluators >> text=support-quality")
    page.wait_for_url(re.compile(r"/evals/evaluators/\d+/$"))
    page.locator("#evaluator-chart canvas, #evaluator-chart svg").first.wait_for()
    assert JUDGE_REPLY in page.locator("#recent-scores").inner_text()
    shot(page, f"evaluator-{width}")
    assert overflow(page) == 0
    page.click("text=prompt version")
    page.wait_for_url(re.compile(r"\?by=prompt$"))

    page.goto("/prompts/support.triage/")
    metrics = page.locator("#version-metrics")
    assert "v1" in metrics.inner_text() and "support-quality 0.80" in metrics.inner_text()
    shot(page, f"prompt-version-metrics-{width}")
    assert overflow(page) == 0
    assert errors == []
    context.close()
