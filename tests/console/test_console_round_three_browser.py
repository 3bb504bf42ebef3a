"""Console round three in headless Chromium at a laptop's 1440 px and a phone's 390 px:
the dashboard's tables and cards fit, health reads what each kind can check, the log
search answers as one types, "Create route" leads on to its deployment, and the new
pages (usage, catalog) draw. Screenshots go to a tmp dir (SWITCHYARD_SHOTS to keep them)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, signed_in_page, signed_in_state
from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
USER, PASSWORD = "ops", "pw-123456789"
SHOTS = Path(os.environ.get("SWITCHYARD_SHOTS") or tempfile.mkdtemp(prefix="consoleux-shots-"))

SEED = """
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth.models import User
from django.utils import timezone
from gateway.models import ApiKey, Deployment, Provider, RequestLog, Route
User.objects.create_superuser('ops', '', 'pw-123456789')
now = timezone.now()
routes = ['anthropic-claude-sonnet-eu-fallback', 'openai-gpt-4o-mini-batch-internal', 'chat']
key = ApiKey.objects.create(name='team-research', prefix='sy-res1', key_hash='r' * 64)
for n in range(40):
    route = routes[n % 3]
    limited = n % 7 == 0
    RequestLog.objects.create(
        request_id=f'req-{n:04d}', created_at=now - timedelta(minutes=n), dialect='openai',
        endpoint='chat', route=route, status=429 if limited else 200,
        key_id=key.pk if n % 2 else None, key_name='team-research' if n % 2 else 'master',
        provider='upstream', upstream_model='gpt-x', latency_ms=120 + n, input_tokens=12,
        output_tokens=30, cost_usd=Decimal('0.00001') if n % 2 else Decimal('0'),
        error_kind='rate_limit_error' if limited else '',
        error_message='Too many requests' if limited else '',
    )
bedrock = Provider.objects.create(name='aws', kind='bedrock')
vertex = Provider.objects.create(name='gcp', kind='vertex_ai')
echo = Provider.objects.get(name='echo') if Provider.objects.filter(name='echo').exists() else Provider.objects.create(name='echo', kind='echo')
for name, provider, model in [('claude-bedrock', bedrock, 'anthropic.claude-3-5-sonnet-20240620-v1:0'), ('gemini-vertex', vertex, 'gemini-2.0-flash'), ('echo-any', echo, 'echo-something')]:
    Deployment.objects.create(route=Route.objects.create(name=name), provider=provider, model=model)
ci = ApiKey.objects.create(name='ci-pipeline', prefix='sy-ci01', key_hash='c' * 64)
for day in range(1, 12):
    for who, cost in ((key, '0.40'), (ci, '0.15')):
        RequestLog.objects.create(
            request_id=f'old-{who.pk}-{day}', created_at=now - timedelta(days=day), dialect='openai',
            endpoint='chat', route='chat', status=200, key_id=who.pk, key_name=who.name,
            input_tokens=1000, output_tokens=200, cost_usd=Decimal(cost) * (1 + day % 4),
        )
from gateway.telemetry import rollups, spend
rollups.rebuild(now - timedelta(days=40))
spend.rebuild(now - timedelta(days=40))
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_GCE_CHECK": "True",
        "GOOGLE_APPLICATION_CREDENTIALS": "",
    }
    with pytest.MonkeyPatch.context() as patch:  # the server inherits no AWS setup
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        with running_gateway(tmp_path_factory.mktemp("round3"), env=env) as gateway:
            gateway.shell(SEED)
            yield gateway


@pytest.fixture(scope="module")
def signed_in(browser, gw: Gateway) -> dict:
    """The operator's session, signed in once through the login form: each test's
    context starts from it instead of signing in again (the form, its answer and the
    dashboard it lands on: ~1 s of each test on a quiet machine)."""
    return signed_in_state(browser, gw, USER, PASSWORD)


def _page(browser, gw: Gateway, viewport: dict, signed_in: dict, scheme: str = "light"):
    context = browser.new_context(
        viewport=viewport, base_url=gw.url, color_scheme=scheme, storage_state=signed_in
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


@pytest.fixture
def laptop(browser, gw: Gateway, signed_in: dict):
    page = _page(browser, gw, LAPTOP, signed_in)
    yield page
    page.context.close()
    assert not page.errors, f"JavaScript errors: {page.errors}"


@pytest.fixture
def phone(browser, gw: Gateway, signed_in: dict):
    page = _page(browser, gw, PHONE, signed_in)
    yield page
    page.context.close()
    assert not page.errors, f"JavaScript errors: {page.errors}"


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fits(page, selector: str) -> bool:
    """No horizontal scrolling inside ``selector``."""
    return page.eval_on_selector(selector, "el => el.scrollWidth <= el.clientWidth + 1")


def test_dashboard_tables_and_spend_fit_at_1440(laptop) -> None:
    laptop.goto("/")
    laptop.wait_for_selector("#dashboard-body .stat .value")
    shot(laptop, "dashboard-1440")
    by_route = laptop.locator(".card", has=laptop.locator("h2:text('By route')"))
    assert fits(laptop, ".by-route .table-wrap"), "the By route table scrolls inside its card"
    # route names break at their hyphens, never in the middle of a word
    for name in ("anthropic-claude-sonnet-eu-fallback", "openai-gpt-4o-mini-batch-internal"):
        link = by_route.locator("a", has_text=name)
        words = link.evaluate(
            """el => { const r = document.createRange(); const out = [];
              const text = el.firstChild; let line = null, word = '';
              for (let i = 0; i < text.length; i++) { r.setStart(text, i); r.setEnd(text, i + 1);
                const top = Math.round(r.getBoundingClientRect().top);
                if (line !== null && top !== line) { out.push(word); word = ''; }
                line = top; word += text.data[i]; }
              out.push(word); return out; }"""
        )
        assert all(w.endswith("-") for w in words[:-1]), f"{name} wraps mid-word: {words}"
    spend = laptop.locator(".stat", has=laptop.locator(".label:text('Spend')")).locator(".value")
    assert spend.inner_text() == "$0.0002"
    assert spend.evaluate("el => el.scrollWidth <= el.clientWidth"), "the Spend card is cut"


def test_dashboard_at_390(phone) -> None:
    phone.goto("/")
    phone.wait_for_selector("#dashboard-body .stat .value")
    shot(phone, "dashboard-390")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width} px)"


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_health_names_the_real_problem_of_each_kind(width, request) -> None:
    page = request.getfixturevalue(width)
    page.goto("/routes/health/")
    page.click("button:has-text('Check every deployment now')")
    page.wait_for_selector("#health-results table")
    shot(page, f"health-{'1440' if width == 'laptop' else '390'}")
    bedrock = page.locator("tr", has_text="claude-bedrock")
    vertex = page.locator("tr", has_text="gemini-vertex")
    echo = page.locator("tr", has_text="echo-any")
    assert bedrock.locator(".pill").inner_text() == "misconfigured"
    assert "no AWS region" in bedrock.inner_text()
    assert vertex.locator(".pill").inner_text() == "misconfigured"
    assert "cannot list models" not in page.locator("#health-results").inner_text()
    assert echo.locator(".pill").first.inner_text() == "healthy"
    assert "not listed" not in echo.inner_text()


def test_log_search_answers_as_one_types(laptop) -> None:
    """Typing "rate" (no Enter) narrows the table to the 429 rate_limit_error rows and
    puts the search in the address; the phone view is shot with the result."""
    laptop.goto("/logs/?window=1h")
    laptop.wait_for_selector("#log-rows tr")
    assert laptop.locator("#log-rows tr").count() == 40
    laptop.locator("#id_q").press_sequentially("rate", delay=60)
    laptop.wait_for_function("document.querySelectorAll('#log-rows tr').length === 6")
    rows = laptop.locator("#log-rows tr")
    assert all("429" in rows.nth(i).inner_text() for i in range(rows.count()))
    assert "q=rate" in laptop.url
    shot(laptop, "logs-search-1440")


def test_log_search_works_without_javascript(browser, gw: Gateway) -> None:
    page = signed_in_page(browser, gw, USER, PASSWORD, PHONE, "/logs/", java_script_enabled=False)
    page.fill("#id_q", "rate_limit")
    page.press("#id_q", "Enter")
    page.wait_for_url(re.compile(r"q=rate_limit"))
    assert page.locator("#log-rows tr").count() == 6
    shot(page, "logs-search-390-nojs")
    page.context.close()


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_create_route_leads_on_to_its_deployment(width, request) -> None:
    page = request.getfixturevalue(width)
    name = f"new-{width}"
    page.goto("/routes/")
    if width == "phone":
        page.goto("/routes/new/")  # the page of its own, as without JavaScript
    else:
        page.click("text=New route")
    page.fill("#id_name", name)
    page.click("button:has-text('Create route')")
    page.wait_for_url(re.compile(r"/routes/\d+/deployments/new/$"))
    assert f"Created route {name}" in page.locator(".alert.ok").inner_text()
    assert "{#" not in page.locator("main").inner_text()  # no template comment shows
    shot(page, f"route-then-deployment-{'1440' if width == 'laptop' else '390'}")
    page.locator("select[name=provider]").select_option(label="echo")
    page.fill("input[name=model]", "echo-1")
    page.click("button:has-text('Add deployment')")
    page.wait_for_url(re.compile(r"/routes/#route-\d+$"))
    card = page.locator("article.route", has_text=name)
    assert "echo-1" in card.locator(".dep").inner_text()


SPEND_AXIS = """() => { const u = window.moneyCharts['spend-chart'], a = u.axes[1]; u.ctx.font = a.font[0];
  const widest = Math.max(...a._values.map(v => u.ctx.measureText(v).width / devicePixelRatio));
  return { values: a._values, widest, room: a._size - a.gap - a.ticks.size }; }"""


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_usage_chart_and_csv(width, request) -> None:
    """The Usage page is the Spend page grouped by key now (issue #43): /usage/ leads there."""
    page = request.getfixturevalue(width)
    page.goto("/usage/?window=30d")
    assert "/spend/?window=30d&group=key" in page.url
    assert page.locator("nav[aria-label='Group by'] [aria-current]").inner_text() == "Key"
    page.wait_for_selector("#spend-chart[data-drawn] canvas")
    legend = page.locator("#spend-chart .u-legend").inner_text()
    assert "team-research" in legend and "ci-pipeline" in legend
    box = page.locator("#spend-chart canvas").bounding_box()
    assert box["width"] > 200 and box["height"] > 100
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    # The spend axis is as wide as its labels, also for a fraction of a cent a day
    # ("$0.000030" was cut to ".000030" by a fixed width).
    page.evaluate(
        "() => { const u = window.moneyCharts['spend-chart'];"
        " u.setData([u.data[0], ...u.data.slice(1).map(s => s.map(v => v * 0.00002))]); }"
    )
    page.wait_for_timeout(100)
    axis = page.evaluate(SPEND_AXIS)
    assert any("0.0000" in v for v in axis["values"]), axis
    assert axis["widest"] <= axis["room"], axis
    shot(page, f"usage-{'1440' if width == 'laptop' else '390'}")
    with page.expect_download() as download:
        page.click("text=Export per day, key and route")
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("date,key_id,key_name,route,requests")
    assert "ci-pipeline" in text


# The text of an element, split where the browser wrapped it onto a new line.
LINES = """el => { const r = document.createRange(); const out = []; let line = null, word = '';
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    for (let i = 0; i < text.length; i++) { r.setStart(text, i); r.setEnd(text, i + 1);
      const top = Math.round(r.getBoundingClientRect().top);
      if (line !== null && top > line + 2) { out.push(word); word = ''; }
      line = top; word += text.data[i]; } }
  out.push(word); return out; }"""


def test_catalog_browser_search_and_add_as_route(laptop, phone) -> None:
    laptop.goto("/catalog/")
    laptop.locator("#id_catalog_q").press_sequentially("flash", delay=40)
    laptop.wait_for_function(
        "[...document.querySelectorAll('.model-name')].every(td => td.textContent.includes('flash'))"
    )
    assert laptop.locator(".model-name").count() > 0
    shot(laptop, "catalog-1440")
    phone.goto("/catalog/?q=gpt-4o&sort=input")
    phone.wait_for_selector(".model-name")
    # long model ids wrap between their parts, never mid-word ("anthropic.cl|aude-3-5")
    phone.goto("/catalog/?q=anthropic.claude-3-5-sonnet")
    phone.wait_for_selector(".model-name")
    for cell in phone.locator(".model-name").all()[:4]:
        lines = cell.evaluate(LINES)
        assert len(lines) > 1, lines  # it does wrap at this width
        assert all(line[-1] in "-./:@" for line in lines[:-1]), lines
    phone.goto("/catalog/?q=gpt-4o&sort=input")
    phone.wait_for_selector(".model-name")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "catalog-390")


def test_dark_mode_follows_the_system(browser, gw: Gateway, signed_in: dict) -> None:
    for viewport, label in ((LAPTOP, "1440"), (PHONE, "390")):
        page = _page(browser, gw, viewport, signed_in, scheme="dark")
        page.goto("/")
        page.wait_for_selector("#dashboard-body .stat .value")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 17, 23)", background
        card = page.evaluate("getComputedStyle(document.querySelector('.stat')).backgroundColor")
        assert card == "rgb(23, 26, 35)", card
        shot(page, f"dashboard-dark-{label}")
        page.goto("/spend/")
        page.wait_for_selector("#spend-chart canvas")
        shot(page, f"spend-dark-{label}")
        assert not page.errors
        page.context.close()
