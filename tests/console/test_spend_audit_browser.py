"""The spend and audit pages in headless Chromium against a live gateway: requests sent
with end users and sessions (headers, an Anthropic Claude-Code-style metadata.user_id)
show up per key, end user and session in the chart and the sortable tables, filter on
a click and export as CSV; the audit page lists the sign-in and the API change with
their origin and masked diff, filters and exports. Screenshots go to the scratch folder
(tests/screenshots.py)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.console.browser_support import CHROMIUM, USER, WIDE, opened_page, sign_in
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

SESSION = "0b5e7a52-8f1c-4d3e-9a55-2f6c0e1d9b11"
SECRET = "sk-live-Browser-Audit-Secret-31"

SEED = """
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth.models import User
from django.utils import timezone
from gateway.models import ApiKey, RequestLog
from gateway.telemetry import spend
User.objects.create_superuser('ops', '', 'pw-123456789')
now = timezone.now()
research = ApiKey.objects.create(name='team-research', prefix='sy-res1', key_hash='r' * 64)
ci = ApiKey.objects.create(name='ci-pipeline', prefix='sy-ci01', key_hash='c' * 64)
people = ['alice@example.com', 'bob@example.com', 'carol@example.com', 'agent-42']
for day in range(0, 7):
    for n, person in enumerate(people):
        key = research if n % 2 == 0 else ci
        for s in range(2):
            RequestLog.objects.create(
                request_id=f'seed-{day}-{n}-{s}', created_at=now - timedelta(days=day, hours=s),
                dialect='anthropic', endpoint='chat', route='claude-sonnet', status=200,
                key_id=key.pk, key_name=key.name, upstream_model='claude-sonnet-4',
                input_tokens=2000 * (n + 1), output_tokens=300, end_user=person,
                session=f'sess-{person[:5]}-{day}',
                cost_usd=Decimal('0.012') * (n + 1) * (1 + day % 3),
            )
spend.rebuild()
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("spend")) as gateway:
        gateway.shell(SEED)
        yield gateway


@pytest.fixture(scope="module")
def live_traffic(gw: Gateway) -> None:
    """Requests through the gateway naming end users and sessions, and an API change."""
    auth = {"authorization": f"Bearer {gw.master_key}"}
    chat = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}]}
    for _ in range(3):
        reply = httpx.post(
            gw.url + "/v1/chat/completions",
            json=chat,
            headers={**auth, "x-switchyard-user": "live-user", "x-switchyard-session": "live-1"},
        )
        assert reply.status_code == 200, reply.text
    claude_code = f"user_{'d' * 64}_account__session_{SESSION}"
    reply = httpx.post(
        gw.url + "/v1/messages",
        json={**chat, "max_tokens": 50, "metadata": {"user_id": claude_code}},
        headers={"x-api-key": gw.master_key, "anthropic-version": "2023-06-01"},
    )
    assert reply.status_code == 200, reply.text
    created = httpx.post(
        gw.url + "/api/providers/",
        json={
            "name": "upstream",
            "kind": "openai",
            "base_url": "https://api.example/v1",
            "secret": SECRET,
        },
        headers={**auth, "user-agent": "deploy-bot/2"},
    )
    assert created.status_code in (200, 201), created.text
    key = httpx.post(  # a change of many fields: its audit summary is long
        gw.url + "/api/keys/",
        json={
            "name": "long-audit-key",
            "routes": ["echo"],
            "rpm_limit": 10,
            "tpm_limit": 1000,
            "budget_usd": "5",
            "budget_period": "month",
            "max_budget_per_user": "1",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        headers=auth,
    )
    assert key.status_code in (200, 201), key.text
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the journal writes in the background
        rows = httpx.get(gw.url + "/api/spend", params={"group_by": "session"}, headers=auth)
        sessions = {r["session"] for r in rows.json()["items"]}
        if {"live-1", SESSION} <= sessions:
            return
        time.sleep(0.3)
    raise AssertionError(f"the live requests never reached the spend rollups: {sessions}")


@pytest.fixture
def page(browser, gw: Gateway, live_traffic):
    with opened_page(browser, gw, WIDE, accept_downloads=True) as page:
        page.goto("/login/")
        page.fill("#id_username", USER)
        page.fill("#id_password", "not-the-password-1")  # one failed sign-in for the audit log
        page.click("button[type=submit]")
        sign_in(page)
        yield page


def shot(page, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"{name}.png"), full_page=True)


def table_names(page, section: str) -> list[str]:
    return page.locator(f"#by-{section} tbody td.name").all_inner_texts()


def test_the_spend_page_charts_sorts_filters_and_exports(page) -> None:
    page.goto("/spend/?window=7d")
    page.wait_for_selector("#spend-chart[data-drawn] canvas")
    assert "live-user" in table_names(page, "end_user")
    assert SESSION in table_names(page, "session")  # Claude Code's session, from metadata
    # its device (no account), cut to fit the table
    assert any(n.startswith("d" * 50) for n in table_names(page, "end_user"))
    keys = table_names(page, "key")
    assert {"team-research", "ci-pipeline", "master key"} <= set(keys)  # its one name (#43)
    costs = page.locator("#by-end_user tbody tr td:nth-child(5)").all_inner_texts()
    assert costs[0] != "$0.00"
    shot(page, "spend-7d")

    page.click("#by-end_user th >> text=Requests")
    requests = [
        int(v) for v in page.locator("#by-end_user tbody td:nth-child(2)").all_inner_texts()
    ]
    assert requests == sorted(requests, reverse=True)
    page.click("#by-end_user th >> text=Requests")  # again: fewest first
    requests = [
        int(v) for v in page.locator("#by-end_user tbody td:nth-child(2)").all_inner_texts()
    ]
    assert requests == sorted(requests)

    page.click("#by-end_user tbody a:text-is('alice@example.com')")
    page.wait_for_selector(".spend-filters .chip")
    assert table_names(page, "end_user") == ["alice@example.com"]
    assert all(s.startswith("sess-alice") for s in table_names(page, "session"))
    page.click("nav[aria-label='Group by'] a:text-is('Session')")
    assert table_names(page, "session")[0].startswith("sess-alice")  # its table first
    page.wait_for_selector("#spend-chart[data-drawn] canvas")
    shot(page, "spend-filtered-alice")

    with page.expect_download() as download:
        page.click("#by-session a:text('Export CSV')")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("session,requests,errors")
    assert len(lines) == 1 + 7 and all("sess-alice" in line for line in lines[1:])

    page.goto("/spend/?window=24h")
    page.wait_for_selector("#spend-chart[data-drawn] canvas")
    shot(page, "spend-24h")


def test_the_audit_page_shows_sign_ins_and_changes_filters_and_exports(page) -> None:
    page.goto("/audit/")
    rows = page.locator(".audit-table tbody tr")
    text = page.locator(".audit-table").inner_text()
    assert "login failed" in text.replace("loginfailed", "login failed") or "loginfailed" in text
    created = page.locator("tr.audit-create", has_text="upstream")
    assert "master key" in created.inner_text() and "api" in created.inner_text()
    created.locator("summary").click()
    changes = created.locator("pre.audit-changes").inner_text()
    assert '"***"' in changes and SECRET not in page.content()
    # a summary names whole fields, never a field cut in the middle
    for row in (created, page.locator("tr.audit-create", has_text="long-audit-key")):
        listed = (row.locator("summary").text_content() or "").split(": ", 1)[1]
        names = listed.replace("…", " ").replace(",", " ").split()
        every = row.locator("pre.audit-changes").text_content() or ""
        assert names and all(f'"{name}"' in every for name in names), listed
    assert rows.count() >= 3
    shot(page, "audit")

    page.select_option("#id_action", "login")
    page.click("button:text('Filter')")
    page.wait_for_url(re.compile(r"action=login"))
    assert page.locator(".audit-table tbody tr").count() >= 1
    assert all(
        a == "login" for a in page.locator(".audit-table tbody td:nth-child(4)").all_inner_texts()
    )
    shot(page, "audit-logins")
    with page.expect_download() as download:
        page.click("a:text('Export JSON')")
    events = json.loads(Path(download.value.path()).read_text())
    assert events and {e["action"] for e in events} == {"login"}
    assert all(e["ip"] == "127.0.0.1" for e in events)
