"""axe-core over every console page an owner opens, at 1440 px, in light and dark mode:
no serious or critical violation (#66 measured 17 of them on 12 of 22 pages: links in
text told apart by colour alone, green pills under 4.5:1, ``aria-sort`` on the sort
link instead of the column header, scrolling regions no keyboard reaches).

The pages are the console's own declarations (``gateway.web.pages``): every page without
a parameter that answers HTML to a GET, and one of each page about a row (a request, a
route and its shadow page, a deployment, a provider, a key, a team, a user, a prompt and
its diff and comparison, a session, a guardrail, an MCP server, an A2A agent, a dataset,
a score config, a review queue, an evaluator, an experiment with a row and its review),
so a page added later is checked too. A live gateway on the demo routes, with requests sent through them (one of
them a fallback) and a row of each resource."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.web import pages
from tests.live import Gateway, running_gateway

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "ops", "pw-123456789"
IMPACTS = {"serious", "critical"}
# pages that are not pages: downloads, redirects out, sign-in and its callbacks
SKIP = re.compile(r"logout|export|\.csv|sso|oauth|callback|login|static|invite/|retry|test/$")

SEED = """
from django.contrib.auth.models import User
from gateway.models import ApiKey, Prompt, PromptVersion, Team
from gateway.access import keys
User.objects.create_superuser('ops', '', 'pw-123456789')
User.objects.create_user('member-one', password='pw-123456789')
team = Team.objects.create(name='research')
keys.create_key(name='ci-key', team=team)
prompt = Prompt.objects.create(name='support')
PromptVersion.objects.create(prompt=prompt, number=1, model='echo', messages=[{'role': 'user', 'content': 'Hello {{name}}'}], variables=['name'])
PromptVersion.objects.create(prompt=prompt, number=2, model='echo', messages=[{'role': 'user', 'content': 'Hi {{name}}'}], variables=['name'])
from gateway.models import Guardrail, McpServer, ScoreConfig
from gateway.models.a2a import A2aAgent
from console.evals.models import AnnotationQueue, Dataset, DatasetRow, Evaluator
Guardrail.objects.create(name='pii-mask', kind='litellm_content_filter', modes=['pre_call'], params={'blocked_words': [{'keyword': 'nightingale', 'action': 'BLOCK'}]})
team.guardrails = ['pii-mask']; team.save()
McpServer.objects.create(name='docs', transport='streamable_http', url='http://127.0.0.1:9/mcp')
A2aAgent.objects.create(name='helper', url='http://127.0.0.1:9/agent', card={})
dataset = Dataset.objects.create(name='helpdesk')
DatasetRow.objects.create(dataset=dataset, version=1, index=0, messages=[{'role': 'user', 'content': 'hi'}], reference='hello')
stars = ScoreConfig.objects.create(name='stars', data_type='numeric', min_value=1, max_value=5)
AnnotationQueue.objects.create(name='triage').score_configs.add(stars)
from console.evals import experiments
experiments.start(dataset, ['echo', 'echo-pair'], ['exact'])
Evaluator.objects.create(name='helpdesk-quality', route='echo', score_name='quality', scorer={'kind': 'judge', 'route': 'echo', 'mode': 'pointwise', 'rubric': 'Grade the answer 1-10.'}, status='paused')
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    # Playwright's request context pools connections with no idle timeout of its own, so
    # it does not heed the server's Keep-Alive hint (Node 20 only shortens an agent's
    # own timeout by it) and, an axe run later, could reuse a connection just as the
    # server closed it for idleness ("socket hang up", seen once in a whole run): the
    # server keeps idle connections longer than the walk's pauses here.
    with running_gateway(
        tmp_path_factory.mktemp("axe"), env={"SWITCHYARD_KEEP_ALIVE_SECONDS": "300"}
    ) as gateway:
        gateway.shell(SEED)
        with httpx.Client(
            base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.master_key}"}
        ) as api:
            for route in ("echo", "echo-pair", "echo-slow"):
                answer = api.post(
                    "/v1/chat/completions",
                    json={"model": route, "messages": [{"role": "user", "content": "hi"}]},
                    headers={"x-switchyard-session": "walk-1", "x-switchyard-tags": "a11y"},
                )
                assert answer.status_code == 200, answer.text
        # the journal writes its rows off the request path: the pages about a log row
        # need them written (a command answers in a tenth of a second now, before them)
        gateway.shell_until(
            "from gateway.models import RequestLog; print(RequestLog.objects.count())",
            lambda out: int(out.split()[-1]) >= 3,
        )
        yield gateway


@pytest.fixture(scope="module")
def page_kinds() -> dict[str, str]:
    """Path -> why it is not a page to check ("" for a page), found by the first scheme's
    walk and read by the second's (``check``)."""
    return {}


def row_pages(gateway: Gateway) -> list[str]:
    """One page of each kind about a row."""
    found = json.loads(
        gateway.shell(
            "import json\n"
            "from django.contrib.auth.models import User\n"
            "from gateway.models import ApiKey, Guardrail, McpServer, Provider, RequestLog, Route,"
            " ScoreConfig, Team\n"
            "from gateway.models.a2a import A2aAgent\n"
            "from console.evals.models import AnnotationQueue, Dataset, Evaluator, Experiment\n"
            "print(json.dumps({'log': RequestLog.objects.order_by('-id').first().request_id,"
            " 'route': Route.objects.get(name='echo-pair').pk,"
            " 'provider': Provider.objects.first().pk, 'key': ApiKey.objects.first().pk,"
            " 'team': Team.objects.first().pk,"
            " 'user': User.objects.get(username='member-one').pk,"
            " 'deployment': Route.objects.get(name='echo-pair').deployments.first().pk,"
            " 'guardrail': Guardrail.objects.get().pk, 'mcp': McpServer.objects.get().pk,"
            " 'agent': A2aAgent.objects.get().pk, 'dataset': Dataset.objects.get().pk,"
            " 'config': ScoreConfig.objects.get().pk, 'queue': AnnotationQueue.objects.get().pk,"
            " 'evaluator': Evaluator.objects.get().pk, 'experiment': Experiment.objects.get().pk}))"
        )
        .strip()
        .splitlines()[-1]
    )
    return [
        f"/logs/{found['log']}/",
        f"/routes/{found['route']}/",
        f"/providers/{found['provider']}/",
        f"/keys/{found['key']}/edit/",
        f"/teams/{found['team']}/",
        f"/users/{found['user']}/",
        "/prompts/support/",
        "/sessions/walk-1/",
        # round five (#66): every other page about a row
        f"/routes/{found['route']}/shadow/",
        f"/deployments/{found['deployment']}/",
        f"/guardrails/{found['guardrail']}/",
        f"/mcp-servers/{found['mcp']}/",
        f"/a2a-agents/{found['agent']}/",
        "/prompts/support/diff/",
        "/evals/prompts/support/compare/",
        f"/evals/datasets/{found['dataset']}/",
        f"/evals/score-configs/{found['config']}/",
        f"/evals/queues/{found['queue']}/",
        f"/evals/evaluators/{found['evaluator']}/",
        f"/evals/experiments/{found['experiment']}/",
        f"/evals/experiments/{found['experiment']}/rows/0/",
        f"/evals/experiments/{found['experiment']}/review/",
    ]


def console_pages(gateway: Gateway) -> list[str]:
    plain = [
        "/" + page.route
        for page in pages.all()
        if "<" not in page.route and page.read is not None and not SKIP.search(page.route)
    ]
    return plain + row_pages(gateway)


PARALLEL = 4  # tabs at once: each page mostly waits (its render, htmx, the idle network)


def serious(page: Any) -> list[str]:
    """axe's serious and critical findings on a (sync Playwright) page, for the browser
    tests of single pages."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    return findings(axe.Axe().run(page).response)


def findings(results: dict[str, Any]) -> list[str]:
    found = []
    for violation in results["violations"]:
        if violation.get("impact") in IMPACTS:
            targets = [", ".join(node["target"]) for node in violation["nodes"][:4]]
            found.append(
                f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])}): "
                f"{violation['help']} — {targets}"
            )
    return found


async def not_a_page(context: Any, path: str) -> str:
    """Why ``path`` is no whole HTML page (its status, not HTML, a partial), "" when it
    is one, asked without a browser tab (``check``)."""
    answer = await context.request.get(path)
    if answer.status != 200:
        return str(answer.status)
    if not answer.headers.get("content-type", "").startswith("text/html"):
        return "not HTML"
    if "<main" not in await answer.text():  # a partial (htmx): checked on its page
        return "a partial"
    return ""


async def check(
    context: Any, path: str, axe: Any, known: dict[str, str]
) -> tuple[list[str] | None, str]:
    """axe's serious findings on ``path``, opened in a tab of its own when it is a whole
    HTML page, asked for first without a browser tab: a tab that navigated to an error
    answer (a POST-only URL's 405) or a partial left a navigation behind that
    interrupted the next path's, and that page was skipped unchecked (/audit/, /evals/,
    /users/ and /settings/sign-in/ were, #66). (None, why) for what is not a page.
    ``known`` holds what each path was found to be: the answer does not depend on the
    colour scheme, and asking again in the second scheme rendered every page once more."""
    if path not in known:
        known[path] = await not_a_page(context, path)
    if known[path]:
        return None, known[path]
    page = await context.new_page()
    try:
        page.set_default_timeout(30_000)
        await page.goto(path)
        await page.wait_for_load_state("networkidle")
        return findings((await axe.run(page)).response), ""
    finally:
        await page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_no_console_page_has_a_serious_or_critical_violation(
    gw: Gateway, scheme, page_kinds: dict[str, str]
) -> None:
    """The pages are checked a few tabs at a time (``PARALLEL``), each tab on its own
    page load, so what is checked is what a visitor's browser shows in that scheme."""
    async_api = pytest.importorskip("playwright.async_api")
    axe = pytest.importorskip("axe_playwright_python.async_playwright").Axe()
    paths = console_pages(gw)
    async with async_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(
            viewport={"width": 1440, "height": 900}, base_url=gw.url, color_scheme=scheme
        )
        page = await context.new_page()
        page.set_default_timeout(15_000)
        page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
        await page.goto("/login/")
        await page.fill("#id_username", USER)
        await page.fill("#id_password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(r"/$"))
        await page.close()
        gate = asyncio.Semaphore(PARALLEL)

        async def one(path: str) -> tuple[list[str] | None, str]:
            async with gate:
                return await check(context, path, axe, page_kinds)

        results = await asyncio.gather(*(one(path) for path in paths))
        await context.close()
        await browser.close()
    checked, report, skipped = [], [], []
    for path, (found, why) in zip(paths, results, strict=True):
        if found is None:
            skipped.append(f"{path} ({why})")
            continue
        checked.append(path)
        report += [f"{path}: {line}" for line in found]
    print(f"axe ({scheme}): {len(checked)} pages checked; not pages: {skipped}")
    assert len(checked) >= 60, (checked, skipped)
    assert not [path for path in row_pages(gw) if path not in checked], skipped
    assert not report, "\n".join(report)
