from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway import journal
from gateway.base import lifecycle
from gateway.models import Deployment, Provider, RequestBody, RequestLog, Route
from tests.console.browser_support import CHROMIUM, LAPTOP, PASSWORD, USER, opened_page
from tests.live import Gateway, running_gateway

from .playground_support import JournalRecorder, make_echo_routes
from .test_shadow_scoring import log_pairs

SECRET = "sk-live-Distinctive-Q9x7Wv3k"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("ops", password="pw-123456789", is_staff=True)


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def usage_today() -> datetime:
    """Ten o'clock (UTC) today as the test starts, not as a module was collected: a run
    that crosses midnight would otherwise put the rows on a day the page no longer calls
    today."""
    from .usage_rows import this_morning

    return this_morning()


@pytest.fixture
def rollups(db: None, usage_today: datetime) -> None:
    """The usage figures' rollups (``usage_rows.key_rollups``) counted from ``usage_today``."""
    from .usage_rows import key_rollups

    key_rollups(usage_today)


@pytest.fixture
def registry_rows(db) -> dict:
    """A provider with a literal secret, a route with one deployment, and one logged
    request with bodies."""
    provider = Provider(
        name="upstream", kind=Provider.Kind.OPENAI, base_url="http://127.0.0.1:9/v1"
    )
    provider.set_secret(SECRET)
    provider.save()
    route = Route.objects.create(name="chat")
    deployment = Deployment.objects.create(
        route=route, provider=provider, model="gpt-x", output_price=Decimal("2")
    )
    log = RequestLog.objects.create(
        request_id="req-1",
        dialect="openai",
        endpoint="chat",
        route="chat",
        status=200,
        provider="upstream",
        upstream_model="gpt-x",
        latency_ms=120,
        ttft_ms=40,
        upstream_ms=100,
        overhead_ms=20,
        input_tokens=5,
        output_tokens=7,
        attempts=[
            {"deployment": "upstream/gpt-x", "route": "chat", "status": 200, "duration_ms": 100}
        ],
    )
    RequestBody.objects.create(
        log=log,
        inbound_request='{"model":"chat","messages":[]}',
        upstream_response='data: {"a":1}\n\ndata: [DONE]\n\n',
    )
    return {"provider": provider, "route": route, "deployment": deployment, "log": log}


@pytest.fixture(autouse=True, scope="session")
def _wait_for_function_under_the_csp():
    """The console's Content-Security-Policy has no 'unsafe-eval', and Playwright's
    ``wait_for_function`` compiles an expression string with eval when it has to poll
    (a function string it does not). Every browser test's expressions are sent as
    functions, so waits work on the pages as users get them."""
    try:
        from playwright.sync_api import Page
    except ImportError:
        yield
        return
    original = Page.wait_for_function

    def wait_for_function(self, expression, *args, **kwargs):
        text = expression.strip()
        # a function is one from its start ("x => ..." inside an expression is not)
        if not re.match(r"(async\s+)?(function\b|\([^()]*\)\s*=>|[\w$]+\s*=>)", text):
            expression = f"() => ({text})"
        return original(self, expression, *args, **kwargs)

    Page.wait_for_function = wait_for_function
    yield
    Page.wait_for_function = original


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> JournalRecorder:
    """The journal recorded in memory (and the lifecycle's start a no-op), for the
    console's tests that read what a run journaled."""
    rec = JournalRecorder()
    monkeypatch.setattr(journal, "record", rec)

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    return rec


@pytest.fixture
def primary(transactional_db, snapshot_reset) -> Route:
    """Route "big" mirrored to "small", two logged pairs, and the judges' echo routes
    (the shadow scoring tests and the shadow page's)."""
    # "judge" echoes the prompt (its first verdict is "A"), "grader" always grades 7,
    # "broken" fails
    make_echo_routes({"judge": {}, "grader": {"reply": "Score: 7"}, "broken": {"fail_status": 500}})
    primary = Route.objects.create(name="big", shadow_routes=["small"], shadow_percent=100)
    Route.objects.create(name="small")
    log_pairs([("4", "4"), ("four", "5")])
    return primary


# --- the browser tests (``pytest.mark.browser``) ---


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway the browser drives, one a module, its operator ``USER`` (skipped
    without Debian's Chromium)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("console")) as gateway:
        gateway.shell(
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r})"
        )
        yield gateway


@pytest.fixture
def page(browser, gw: Gateway):
    """A laptop-sized page on ``gw``; the test fails on any JavaScript error."""
    with opened_page(browser, gw, LAPTOP) as page:
        yield page
