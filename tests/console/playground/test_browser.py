"""The playground in headless Chromium against a real server: sign in, run three
columns (one through the Anthropic dialect) and watch them grow at the same time,
read the per-column metrics, diff two columns, and find the three runs in the journal
marked as from the playground. Screenshot mid-run: playground.png (tests/screenshots.py says where)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.console.browser_support import CHROMIUM, signed_in_page
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

SCREENSHOT = screenshot_dir() / "playground.png"
USER, PASSWORD = "player", "pw-playground-1"
ROUTES = ("stream-a", "stream-b", "stream-c")
PROMPT = (
    "Compare three ways to cache model answers at the gateway: by exact prompt, by "
    "normalised prompt, and by embedding similarity, with one risk of each approach"
)

MARKDOWN = (
    "## Plan\n\nUse **bold** words and `inline code`.\n\n- one\n- two\n\n"
    "```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    '<script>window.__pwned = 1</script>\n\n<img src=x onerror="window.__pwned = 2">'
)
LONG = "\n\n".join(f"Paragraph {n} of a long answer." for n in range(1, 61))

# A logged Anthropic request (system blocks, a tool call and its result, nothing after
# it): replayed, every column must answer the tool result.
TOOL_TURN_LOG = json.dumps(
    {
        "model": "echo",
        "max_tokens": 400,
        "system": [{"type": "text", "text": "Answer in one line."}],
        "messages": [
            {"role": "user", "content": "Please use the get_weather tool for Oslo"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21 C"}
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather now",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    }
)

SETUP = f"""
from decimal import Decimal
from django.contrib.auth.models import User
from gateway.models import Deployment, Provider, Route
User.objects.create_user({USER!r}, '', {PASSWORD!r}, is_staff=True)
echo = Provider.objects.get(name='echo')
for n, name in enumerate({ROUTES!r}):
    route = Route.objects.create(name=name)
    Deployment.objects.create(route=route, provider=echo, model=name, params={{'delay': 0.05 + n * 0.01}},
                              input_price=Decimal('3'), output_price=Decimal('15'))
markdown = Route.objects.create(name="md-answer")
Deployment.objects.create(route=markdown, provider=echo, model="md", params={{'reply': {MARKDOWN!r}}})
from gateway.models import RequestBody, RequestLog
logged = RequestLog.objects.create(request_id="req-tool-turn", dialect="anthropic", endpoint="chat",
                                   route="echo", status=200)
RequestBody.objects.create(log=logged, inbound_request={TOOL_TURN_LOG!r})
"""

SAMPLE = """() => Array.from(document.querySelectorAll('#pg-grid .pg-col')).map(col => ({
  len: (col.querySelector('.assistant.current .pg-text') || {textContent: ''}).textContent.length,
  state: col.dataset.state || ''
}))"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("playground")) as gateway:
        gateway.shell(SETUP)
        # once for the module (each test used to wait): the routes are made by another
        # process, and the server's registry snapshot picks them up within ~1 s
        time.sleep(1.2)
        yield gateway


@pytest.fixture
def page(gw: Gateway, browser: Any) -> Iterator[Any]:
    """A signed-in playground in a context of its own (cookies, permissions), in the
    module's one Chromium (``tests/conftest.py``): a launch a test was about a second."""
    page = signed_in_page(browser, gw, USER, PASSWORD, {"width": 1440, "height": 1000})
    yield page
    page.context.close()


def playground_rows(gw: Gateway) -> list[tuple]:
    with sqlite3.connect(gw.data_dir / "switchyard.sqlite3") as db:
        return db.execute(
            "SELECT route, dialect, status, output_tokens, key_name FROM gateway_requestlog "
            "WHERE from_playground = 1 ORDER BY route"
        ).fetchall()


def test_three_columns_stream_side_by_side(page, gw: Gateway) -> None:
    page.click("#pg-add-column")
    rows = page.locator("#pg-column-rows > li")
    assert rows.count() == 3
    for n, route in enumerate(ROUTES):
        rows.nth(n).locator("select[name=route]").select_option(route)
    rows.nth(1).locator("select[name=dialect]").select_option("anthropic")
    page.fill("textarea[name=system]", "Answer in one short paragraph.")
    page.fill("textarea[name=prompt]", PROMPT)
    page.click("#pg-run")

    samples = []
    shot = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sample = page.evaluate(SAMPLE)
        samples.append(sample)
        streaming = len(sample) == 3 and all(c["len"] and c["state"] == "streaming" for c in sample)
        if streaming and not shot and sample[0]["len"] > 60:
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            shot = True
        if len(sample) == 3 and all(c["state"] == "done" for c in sample):
            break
        time.sleep(0.1)

    together = [
        s for s in samples if len(s) == 3 and all(c["len"] > 0 and c["state"] != "done" for c in s)
    ]
    assert len(together) >= 3, f"columns never grew together: {samples}"
    lengths = [[c["len"] for c in s] for s in together]
    assert lengths[-1] > lengths[0] and all(
        a < b for a, b in zip(lengths[0], lengths[-1], strict=True)
    )
    assert [c["state"] for c in samples[-1]] == ["done"] * 3
    assert shot

    expected = "Echo: " + PROMPT
    for n in range(3):
        column = page.locator(f'#pg-grid .pg-col[data-index="{n}"]')
        assert column.locator(".pg-text").inner_text() == expected
        assert column.locator(".pg-route").inner_text() == ROUTES[n]
        for metric in (
            "ttft_ms",
            "tokens_per_sec",
            "total_ms",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ):
            value = column.locator(f'[data-metric="{metric}"]').inner_text()
            assert value not in ("", "—"), f"column {n} shows no {metric}"
        assert column.locator('[data-metric="output_tokens"]').inner_text() == str(
            len(expected.split())
        )
        assert column.locator('[data-metric="cost_usd"]').inner_text().startswith("$0.000")
        ttft = column.locator('[data-metric="ttft_ms"]').inner_text()
        assert ttft.endswith(" ms") and 0 < float(ttft.split()[0]) < 2000
    assert page.locator('#pg-grid .pg-col[data-index="1"] .pg-dialect').inner_text() == "anthropic"

    # the post-run panel: word diff of two columns, and the raw exchange of one
    page.locator("#pg-panel .pg-diff-form button").click()
    page.wait_for_selector("#pg-diff .pg-diff-summary")
    assert "100% similar" in page.locator("#pg-diff .pg-diff-summary").inner_text()
    page.locator("#pg-panel .pg-raw-links a").nth(1).click()
    page.wait_for_selector("#pg-raw pre")
    assert "content_block_delta" in page.locator("#pg-raw").inner_text()
    page.screenshot(path=str(SCREENSHOT.with_name("playground-compare.png")), full_page=True)

    rows_found: list[tuple] = []
    for _ in range(50):  # the journal writes in batches, within about a second
        rows_found = playground_rows(gw)
        if len(rows_found) >= 3:
            break
        time.sleep(0.1)
    assert [(r[0], r[1], r[2]) for r in rows_found] == [
        ("stream-a", "openai", 200),
        ("stream-b", "anthropic", 200),
        ("stream-c", "openai", 200),
    ]
    assert {r[4] for r in rows_found} == {f"console:{USER}"}
    assert all(r[3] == len(expected.split()) for r in rows_found)


def test_the_stop_button_stops_every_column(page, gw: Gateway) -> None:
    rows = page.locator("#pg-column-rows > li")
    rows.nth(0).locator("select[name=route]").select_option("echo-slow")
    rows.nth(1).locator("select[name=route]").select_option("echo-slow")
    page.fill("textarea[name=prompt]", PROMPT + " " + PROMPT)
    page.click("#pg-run")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-state=streaming]').length === 2"
    )
    page.click("#pg-stop")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-state=stopped]').length === 2"
    )
    texts = page.locator("#pg-grid .pg-text").all_inner_texts()
    assert all(0 < len(t) < len("Echo: " + PROMPT + " " + PROMPT) for t in texts)
    # the turn's end comes as its own message after the columns' ends: wait for it
    expect(page.locator("#pg-run")).to_be_enabled(timeout=10_000)


def test_a_blind_vote_reveals_the_column_heads_and_costs(page, gw: Gateway) -> None:
    rows = page.locator("#pg-column-rows > li")
    rows.nth(0).locator("select[name=route]").select_option("stream-a")
    rows.nth(1).locator("select[name=route]").select_option("stream-b")
    page.fill("textarea[name=prompt]", "Which is faster?")
    marker = "getComputedStyle(document.querySelector('#pg-column-rows > li'), '::before').content"
    assert page.evaluate(marker) == "counter(col, upper-alpha)"
    page.check("input[name=blind]")
    # Blind: the form numbers its rows, so its "A" cannot contradict the shuffled "A".
    assert page.evaluate(marker) == "counter(col)"
    assert page.locator(".pg-blind-note").is_visible()
    page.click("#pg-run")
    page.wait_for_selector("#pg-panel .pg-vote form button", timeout=20_000)
    heads = page.locator("#pg-grid .pg-route")
    assert heads.all_inner_texts() == ["hidden until you vote"] * 2
    # No figures at all until the vote: speed, tokens and cost would name the models.
    assert page.locator("#pg-grid [data-metric]").count() == 0
    assert page.locator("#pg-grid .pg-metrics-note").count() == 2

    page.locator("#pg-panel .pg-vote button", has_text="A is best").click()
    page.wait_for_selector("#pg-panel .pg-reveal")
    assert "?comparison=" in page.url
    assert sorted(heads.all_inner_texts()) == ["stream-a", "stream-b"]
    assert page.locator("#pg-grid .pg-dialect").all_inner_texts() == ["openai"] * 2
    costs = page.locator('#pg-grid [data-metric="cost_usd"]').all_inner_texts()
    assert all(c.startswith("$0.0") for c in costs), costs
    assert page.locator("#pg-panel .pg-vote .winner").inner_text().startswith("A was stream-")


def run_and_wait(page, routes: tuple[str, str], prompt: str) -> None:
    rows = page.locator("#pg-column-rows > li")
    for n, route in enumerate(routes):
        rows.nth(n).locator("select[name=route]").select_option(route)
    page.fill("textarea[name=prompt]", prompt)
    page.click("#pg-run")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-state=done]').length === 2",
        timeout=20_000,
    )


def test_answers_render_as_markdown_and_model_html_stays_text(page, gw: Gateway) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    run_and_wait(page, ("md-answer", "echo"), "Say it in Markdown")
    answer = page.locator('#pg-grid .pg-col[data-index="0"] .pg-msg.assistant').last
    rendered = answer.locator(".pg-md")
    assert rendered.locator("h2").inner_text() == "Plan"
    assert rendered.locator("strong").inner_text() == "bold"
    assert rendered.locator("p code").inner_text() == "inline code"
    assert rendered.locator("pre code").inner_text().strip() == "print('hi')"
    assert rendered.locator("li").all_inner_texts() == ["one", "two"]
    assert rendered.locator("table td").all_inner_texts() == ["1", "2"]
    # The model's HTML is shown as text: nothing ran, no element was made from it.
    assert rendered.locator("script, img").count() == 0
    assert "<script>window.__pwned = 1</script>" in rendered.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert not answer.locator(".pg-text").is_visible()

    # Raw view: the text exactly as the model wrote it; copy takes that text.
    answer.hover()
    answer.locator(".pg-raw-toggle").click()
    assert answer.locator(".pg-text").is_visible() and not rendered.is_visible()
    assert answer.locator(".pg-text").inner_text() == MARKDOWN
    answer.locator(".pg-copy").click()
    page.wait_for_function("document.querySelector('.pg-copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == MARKDOWN
    answer.locator(".pg-raw-toggle").click()
    assert rendered.is_visible()

    # A saved comparison reopens rendered the same way.
    page.reload()
    again = page.locator('#pg-grid .pg-col[data-index="0"] .pg-md').last
    assert again.locator("strong").inner_text() == "bold"
    assert again.locator("script, img").count() == 0
    page.screenshot(path=str(SCREENSHOT.with_name("playground-markdown.png")), full_page=True)


def test_a_one_line_answer_sits_in_a_tight_box(page, gw: Gateway) -> None:
    run_and_wait(page, ("echo", "echo"), "Hi")
    answer = page.locator('#pg-grid .pg-col[data-index="0"] .pg-msg.assistant').last
    line = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('#pg-grid .pg-md')).lineHeight)"
    )
    height = answer.bounding_box()["height"]
    assert height <= 3 * line, f"a one-line answer is {height}px tall (line {line}px)"
    user = page.locator('#pg-grid .pg-col[data-index="0"] .pg-msg.user').last
    assert user.bounding_box()["height"] <= 3 * line


def test_after_a_follow_up_the_newest_answer_is_in_view(page, gw: Gateway) -> None:
    run_and_wait(page, ("echo", "echo"), LONG)
    for index in (0, 1):
        box = page.locator(f'#pg-grid .pg-col[data-index="{index}"] .pg-transcript')
        overflowing = "el => el.scrollHeight > el.clientHeight + 50"
        assert box.evaluate(overflowing), "the long answer should overflow its column"
    page.fill("#pg-followup textarea", "And a short one?")
    page.click("#pg-followup button[type=submit]")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-index=\"1\"] .pg-msg.assistant')"
        ".length === 2 && document.querySelectorAll('#pg-grid .pg-col[data-state=done]')"
        ".length === 2",
        timeout=20_000,
    )
    for index in (0, 1):
        newest = page.locator(f'#pg-grid .pg-col[data-index="{index}"] .pg-msg.assistant').last
        # Visible without scrolling: inside its transcript's box and inside the window.
        inside = newest.evaluate(
            """el => {
              const r = el.getBoundingClientRect();
              const box = el.closest('.pg-transcript').getBoundingClientRect();
              return r.top >= box.top - 1 && r.bottom <= box.bottom + 1
                && r.top >= 0 && r.bottom <= window.innerHeight;
            }"""
        )
        assert inside, f"column {index}: the newest answer is out of sight"


WEATHER_TOOL = (
    '[{"name": "get_weather", "description": "Weather now", "parameters": '
    '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]'
)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def test_a_tool_call_takes_the_result_the_user_types(page, gw: Gateway) -> None:
    rows = page.locator("#pg-column-rows > li")
    rows.nth(1).locator("select[name=dialect]").select_option("anthropic")
    page.locator(".pg-tools summary").click()
    page.fill("textarea[name=tools]", WEATHER_TOOL)
    run_and_wait(page, ("echo", "echo"), "Please use the get_weather tool for Oslo")
    for index, result in ((0, "sunny, 21 C"), (1, "cloudy, 12 C")):
        column = page.locator(f'#pg-grid .pg-col[data-index="{index}"]')
        assert "get_weather(" in column.locator(".pg-tool").inner_text()
        column.locator(".pg-tool-result textarea").fill(result)
    page.click("#pg-followup button[type=submit]")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#pg-grid .pg-col')).every(c => "
        "c.querySelectorAll('.pg-msg.assistant').length === 2 && c.dataset.state === 'done')",
        timeout=20_000,
    )
    for index, result in ((0, "sunny, 21 C"), (1, "cloudy, 12 C")):
        column = page.locator(f'#pg-grid .pg-col[data-index="{index}"]')
        newest = column.locator(".pg-msg.assistant").last
        assert f"returned: {result}" in newest.locator(".pg-text").inner_text()
        assert result in column.locator(".pg-msg.user").last.inner_text()
    other = "cloudy, 12 C" if index == 0 else "sunny, 21 C"
    assert other not in column.locator(".pg-msg.user").last.inner_text()  # its own only
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOT.with_name("playground-tools.png")), full_page=True)


def test_a_prompt_can_carry_an_image(page, gw: Gateway) -> None:
    page.set_input_files(
        "input[name=attach]", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PNG}]
    )
    assert page.locator("#pg-files").inner_text().strip() == "dot.png"
    run_and_wait(page, ("echo", "echo"), "What is in this picture?")
    assert "dot.png" in page.locator('#pg-grid .pg-col[data-index="0"] .pg-msg.user').inner_text()
    inbound = []
    for _ in range(50):
        with sqlite3.connect(gw.data_dir / "switchyard.sqlite3") as db:
            inbound = [
                row[0]
                for row in db.execute(
                    "SELECT b.inbound_request FROM gateway_requestbody b JOIN gateway_requestlog l "
                    "ON l.id = b.log_id WHERE l.from_playground = 1 AND "
                    "b.inbound_request LIKE '%What is in this picture%'"
                )
            ]
        if len(inbound) >= 2:
            break
        time.sleep(0.1)
    assert len(inbound) == 2 and all("data:image/png;base64," in body for body in inbound)


def test_a_logged_tool_turn_replays_as_one_and_every_column_answers_its_result(
    page, gw: Gateway
) -> None:
    page.goto("/playground/?replay=req-tool-turn")
    view = page.locator("#pg-earlier-view")
    assert view.locator(".pg-call").inner_text().startswith('get_weather({"city":"Oslo"})')
    assert "toolu_1" in view.locator(".pg-call").inner_text()
    assert view.locator(".pg-result").inner_text().startswith("get_weather returned: sunny, 21 C")
    assert [view.locator(".pg-role").nth(n).inner_text() for n in range(3)] == [
        "user",
        "assistant",
        "tool",
    ]
    assert page.input_value("textarea[name=system]") == "Answer in one line."
    assert page.input_value("textarea[name=prompt]") == ""  # the models answer the result
    assert "tool results" in page.get_attribute("textarea[name=prompt]", "placeholder")
    # The turns are edited as JSON; the compact view follows.
    page.click(".pg-earlier-json summary")
    earlier = page.input_value("textarea[name=earlier]")
    page.fill("textarea[name=earlier]", earlier.replace("sunny, 21 C", "snow, -2 C"))
    assert view.locator(".pg-result").inner_text().startswith("get_weather returned: snow, -2 C")
    page.click(".pg-earlier-json summary")
    page.click("#pg-run")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-state=done]').length === 2",
        timeout=20_000,
    )
    for index in (0, 1):
        column = page.locator(f'#pg-grid .pg-col[data-index="{index}"]')
        # The echo provider answers a tool result it received as one (a result written
        # out as text would be echoed back as a prompt instead).
        answer = column.locator(".pg-msg.assistant").last.locator(".pg-text").inner_text()
        assert "toolu_1 returned: snow, -2 C" in answer
        assert column.locator(".pg-msg.user").inner_text() == "[tool result toolu_1: snow, -2 C]"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOT.with_name("playground-replay-tools.png")), full_page=True)
    inbound = []
    for _ in range(50):
        with sqlite3.connect(gw.data_dir / "switchyard.sqlite3") as db:
            inbound = [
                json.loads(row[0])
                for row in db.execute(
                    "SELECT b.inbound_request FROM gateway_requestbody b JOIN gateway_requestlog l "
                    "ON l.id = b.log_id WHERE l.from_playground = 1 AND "
                    "b.inbound_request LIKE '%toolu_1%'"
                )
            ]
        if len(inbound) >= 2:
            break
        time.sleep(0.1)
    assert len(inbound) == 2
    last_turns = sorted((body["messages"][-1] for body in inbound), key=lambda m: m["role"])
    assert last_turns == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "snow, -2 C"},
        {
            "role": "user",
            "content": [  # as the Anthropic codec writes a tool result: text blocks
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "snow, -2 C"}],
                }
            ],
        },
    ]
