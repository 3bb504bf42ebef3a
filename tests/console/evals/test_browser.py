"""The evaluations console in headless Chromium against a real server: upload a
dataset, run it over three echo routes, watch the progress bar reach 100 % through the
WebSocket (the frames the socket delivered are counted), read the summary and the
charts, open a row, vote in the blind review with the keyboard; with the socket refused,
the bar still gets there by HTMX polling. Screenshots at 1440 and 390 px go to the
scratch folder (tests/screenshots.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "ops", "pw-123456789"
ROWS = 24


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("evals")) as gateway:
        gateway.shell(
            f"from django.contrib.auth.models import User; User.objects.create_superuser('{USER}', '', '{PASSWORD}')"
        )
        yield gateway


@pytest.fixture
def page(gw: Gateway):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=gw.url)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/login/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))
        yield page
        browser.close()
        assert not errors, f"JavaScript errors: {errors}"


def shot(page, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"evals-{name}.png"), full_page=True)


def narrow_shot(page, name: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, f"{name}-390")
    page.set_viewport_size({"width": 1440, "height": 900})


def progress_frames(page) -> list[dict]:
    """The messages the experiment progress socket delivers to the page, as they come."""
    frames: list[dict] = []

    def watch(ws) -> None:
        if "/ws/evals/experiments/" in ws.url:
            ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", watch)
    return frames


def upload(page, path: Path, name: str) -> None:
    page.goto("/evals/")
    page.fill("#ds-name", name)
    page.set_input_files("#ds-file", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector(f"h1:text('{name}')")


def test_upload_run_three_routes_and_read_the_results(page, tmp_path: Path) -> None:
    data = tmp_path / "capitals.jsonl"
    lines = [
        json.dumps(
            {
                "prompt": f"capital {i} of land {i}",  # echo-slow: 50 ms a word, ~0.3 s
                "reference": f"Echo: capital {i} of land {i}",
                "metadata": {"n": i},
            }
        )
        for i in range(ROWS)
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n" + '{"prompt": oops}\n')
    data.write_text("\n".join(lines) + "\n")

    page.goto("/evals/")
    page.set_input_files("#ds-file", str(bad))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector(".alert:has-text('line 2: not valid JSON')")
    shot(page, "upload-error")

    page.fill("#ds-name", "capitals")
    page.set_input_files("#ds-file", str(data))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("h1:text('capitals')")
    assert page.locator("#rows tbody tr").count() == ROWS

    page.click("text=Run an experiment")
    page.select_option("select[name=route_0]", "echo")
    page.select_option("select[name=route_1]", "echo-slow")
    page.select_option("select[name=route_2]", "echo-pair")
    page.fill("input[name=temperature_1]", "0.2")
    page.check("#s-exact")
    page.check("#s-contains")
    page.fill("#x-concurrency", "2")
    shot(page, "new-experiment")
    frames = progress_frames(page)
    page.click("#experiment-form button[type=submit]")
    page.wait_for_selector("#progress-bar")
    seen = set()
    swapped_by_socket = False
    for _ in range(400):  # the bar moves while it runs
        seen.add(page.locator("#progress-percent").inner_text())
        swapped_by_socket |= page.locator("#progress[data-socket=live]").count() == 1
        if len(seen) == 2:
            shot(page, "running")
            narrow_shot(page, "running")
        if page.locator("#progress-status").inner_text() == "done":
            break
        page.wait_for_timeout(100)
    page.wait_for_selector("#progress-status:text('done')")
    page.wait_for_selector("#progress-percent:text('100%')")
    page.wait_for_function("document.querySelector('#scatter-chart canvas') !== null")
    page.wait_for_function("document.querySelector('#latency-chart canvas') !== null")
    shot(page, "results")
    narrow_shot(page, "results")
    assert len(seen) > 1, seen  # it was seen in progress, not only finished
    # the socket delivered the progress: its first state, the bar moving, then 100 %
    assert swapped_by_socket  # the page's card was replaced by what the socket sent
    assert len(frames) >= 3, frames
    assert any(0 < f["percent"] < 100 for f in frames), [f["percent"] for f in frames]
    assert frames[-1]["finished"] and frames[-1]["percent"] == 100
    assert frames[-1]["done"] == ROWS * 3 and 'value="100"' in frames[-1]["html"]
    summary = page.locator("#summary tbody tr")
    assert summary.count() == 3
    # echo answers the reference exactly: every answer passes "exact"
    assert "100% pass" in summary.nth(0).inner_text()
    assert "baseline" in summary.nth(0).inner_text()
    assert "50%" in summary.nth(1).inner_text()  # all ties with the baseline
    assert page.locator("#results tbody tr").count() == ROWS
    assert page.locator("#results tbody tr").first.locator("a:text('log')").count() == 3

    page.locator("#results .row-link").nth(3).click()  # rows are numbered from 1: index 3 is row 4
    page.wait_for_selector("h1:has-text('row 4')")
    assert page.locator(".eval-answer").count() == 3
    assert page.locator(".eval-answer pre").first.inner_text() == "Echo: capital 3 of land 3"
    shot(page, "row")
    narrow_shot(page, "row")
    page.locator(".eval-answer a:text('Open in the log')").first.click()
    page.wait_for_url(re.compile(r"/logs/"))
    assert "experiment:" in page.content()

    page.go_back()
    page.click("text=Back to the results")
    page.click("text=Blind review")
    page.wait_for_selector("[data-review]")
    remaining = page.locator("p.muted").first.inner_text()
    shot(page, "review")
    page.keyboard.press("a")
    page.wait_for_load_state("load")
    page.wait_for_selector("[data-review]")
    assert page.locator("p.muted").first.inner_text() != remaining  # one fewer to go


def test_without_the_socket_the_bar_still_moves_by_polling(page, tmp_path: Path) -> None:
    refused: list[str] = []

    def refuse(ws) -> None:  # the socket cannot open (a proxy without WebSockets, say)
        refused.append(ws.url)
        ws.close()

    page.route_web_socket(re.compile(r"/ws/evals/"), refuse)
    data = tmp_path / "few.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"p {i}"}) + "\n" for i in range(30))
    )  # ~3 s: several polls
    upload(page, data, "few")
    page.click("text=Run an experiment")
    page.select_option("select[name=route_0]", "echo")
    page.select_option("select[name=route_1]", "echo-slow")
    page.fill("#x-concurrency", "1")
    frames = progress_frames(page)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/progress/" in r.url else None)
    page.click("#experiment-form button[type=submit]")
    page.wait_for_selector("#progress-status:text('done')", timeout=60_000)
    page.wait_for_selector("#progress-percent:text('100%')")
    page.wait_for_function("document.querySelector('#scatter-chart canvas') !== null")
    assert refused and frames == []  # no progress came over a socket
    assert len(polls) >= 2  # it came by polling
