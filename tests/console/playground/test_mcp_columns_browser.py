"""Playground columns with MCP servers, in headless Chromium against a running gateway:
an owner attaches a registered MCP server (a stdio server written with the ``mcp``
SDK) to two columns, one on an OpenAI-chat upstream through the OpenAI dialect, one on
an Anthropic upstream through the Anthropic dialect; the mock model talks, calls the
server's tool, talks again and calls it again, then answers with the results. Each
column shows its answer in order, each call (server, tool, arguments, result) between
the paragraphs said around it, live and when the comparison is reopened. A member's
playground offers no MCP server. Screenshots at 1440 and 390 px: playground-mcp-*.png
(tests/screenshots.py says where)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, CHROMIUM_ARGS, signed_in_page
from tests.integration.conftest import Stack, start_stack
from tests.integration.mock_tool_model import chatty_caller
from tests.live import Gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

OWNER, MEMBER, PASSWORD = "mcp-owner", "mcp-member", "pw-playground-mcp-1"
SERVER_SCRIPT = (
    Path(__file__).resolve().parents[2] / "gateway" / "features" / "mcp" / "mcp_test_server.py"
)
SETUP = f"""
import sys
from django.contrib.auth.models import User
from gateway.models import McpServer
from gateway.access import roles
User.objects.create_user({OWNER!r}, '', {PASSWORD!r}, is_staff=True)
member = User.objects.create_user({MEMBER!r}, '', {PASSWORD!r})
roles.set_role(member, roles.MEMBER)
McpServer.objects.create(name='calc', transport='stdio', command=sys.executable, from_operator=True,
                         args=[{str(SERVER_SCRIPT)!r}, 'stdio'])
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with start_stack(tmp_path_factory) as running:
        running.gw.shell(SETUP)
        time.sleep(1.5)  # the server's registry poll sees the MCP server
        yield running


def signed_in(browser, gw: Gateway, user: str, width: int):  # type: ignore[no-untyped-def]
    return signed_in_page(browser, gw, user, PASSWORD, {"width": width, "height": 1000})


# The answer as shown, in order: each rendered piece of text, each MCP call's summary.
IN_ORDER = """answer => Array.from(answer.querySelectorAll('.pg-md, .pg-mcp')).map((el) =>
  el.matches('.pg-mcp') ? 'MCP ' + el.querySelector('summary').textContent.replace(/^MCP\\s*/, '')
                        : el.textContent.trim())"""
EXPECTED = [
    "Let me add them.",
    'MCP calc · add({"a":20,"b":22})',
    "Now check it.",
    'MCP calc · add({"a":40,"b":2})',
    "Done: 42 | 42",
]


def test_columns_run_the_servers_tools_and_show_the_calls(stack: Stack) -> None:
    from playwright.sync_api import sync_playwright

    stack.mock.reset()
    stack.mock.default = chatty_caller(
        [
            ("Let me add them.", "add", {"a": 20, "b": 22}),
            ("Now **check** it.", "add", {"a": 40, "b": 2}),
        ]
    )
    shots = screenshot_dir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = signed_in(browser, stack.gw, OWNER, 1440)
            rows = page.locator("#pg-column-rows > li")
            for n, (route, dialect) in enumerate(
                [("mock-gpt", "openai"), ("mock-claude", "anthropic")]
            ):
                row = rows.nth(n)
                row.locator("select[name=route]").select_option(route)
                row.locator("select[name=dialect]").select_option(dialect)
                row.locator("input[name=mcp_servers][value=calc]").check()
            page.fill("textarea[name=prompt]", "What is 20 + 22?")
            page.click("#pg-run")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                states = page.eval_on_selector_all(
                    "#pg-grid .pg-col", "cols => cols.map(c => c.dataset.state)"
                )
                if len(states) == 2 and all(s in ("done", "error") for s in states):
                    break
                time.sleep(0.1)
            assert states == ["done", "done"], states
            for n in range(2):
                answer = page.locator(f'#pg-grid .pg-col[data-index="{n}"] .pg-msg.assistant')
                assert answer.evaluate(IN_ORDER) == EXPECTED  # live: each call in its place
                assert answer.locator(".pg-md strong").inner_text() == "check"  # Markdown
                call = answer.locator(".pg-mcp").first
                call.locator("summary").click()
                assert call.locator(".pg-pre").inner_text() == "42"
                answer.locator(".pg-raw-toggle").click()  # the raw text, in its pieces
                raw = answer.locator(".pg-text").all_inner_texts()
                assert raw == ["Let me add them.", "Now **check** it.", "Done: 42 | 42"]
                answer.locator(".pg-raw-toggle").click()
            page.screenshot(path=str(shots / "playground-mcp-1440.png"), full_page=True)
            # the comparison reopened, at both widths, shows the answers as they were
            comparison = _latest_comparison(stack)
            for width in (1440, 390):
                again = signed_in(browser, stack.gw, OWNER, width)
                again.goto(f"/playground/?comparison={comparison}")
                for n in range(2):
                    answer = again.locator(f'#pg-grid .pg-col[data-index="{n}"] .pg-msg.assistant')
                    assert answer.evaluate(IN_ORDER) == EXPECTED
                again.locator("#pg-grid .pg-mcp summary").first.click()
                again.screenshot(
                    path=str(shots / f"playground-mcp-reopened-{width}.png"), full_page=True
                )
                again.locator("#pg-grid").screenshot(
                    path=str(shots / f"playground-mcp-reopened-grid-{width}.png")
                )
            # a member's role may not attach MCP servers: no such control
            member = signed_in(browser, stack.gw, MEMBER, 1440)
            assert member.locator("input[name=mcp_servers]").count() == 0
        finally:
            browser.close()
    sent = [r for r in stack.mock.chat_requests()]
    assert len(sent) == 6  # three turns per column: two calls, then the answer
    rows = stack.gw.shell(
        "from gateway.models import RequestLog\n"
        "print([(r.route, [c['tool'] for c in r.mcp_calls]) for r in "
        "RequestLog.objects.filter(from_playground=True).order_by('route')])"
    )
    assert "('mock-claude', ['add', 'add'])" in rows and "('mock-gpt', ['add', 'add'])" in rows


def _latest_comparison(stack: Stack) -> int:
    out = stack.gw.shell(
        "from console.models import Comparison\nprint(Comparison.objects.latest('pk').pk)"
    )
    return int(out.strip().splitlines()[-1])
