"""A board a team shapes, in headless Chromium against a live gateway with traffic on the
demo routes: an owner opens "Pin a chart" on the dashboard, pins requests by route and
latency p95 by model (htmx swaps the board in), moves the second first, reloads and sees
both in that order; a member pins to their team's board from the Logs page's link and
sees it after a reload. axe-core finds no serious or critical violation on the board in
light and dark mode; screenshots at 1440 and 390 px, light and dark, go to the scratch
folder (tests/screenshots.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.browser_support import CHROMIUM
from tests.console.test_accessibility_browser import serious
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PASSWORD = "pw-123456789"

SEED = """
from django.contrib.auth.models import User
from gateway.access import roles
from gateway.models import Team
User.objects.create_superuser('ops', '', 'pw-123456789')
mia = User.objects.create_user('mia', password='pw-123456789')
roles.set_role(mia, roles.MEMBER)
roles.assign_membership(mia, Team.objects.create(name='research'), roles.MEMBER)
"""
# a grade of 1 to 5 on every request: a chart of scores names it and reads on its scale
SCORES = """
from gateway.models import RequestLog, Score, ScoreConfig
ScoreConfig.objects.create(name='grade', data_type='numeric', min_value=1, max_value=5)
for n, log in enumerate(RequestLog.objects.order_by('id')):
    Score.objects.create(log=log, name='grade', value=3 + n % 3, source='api', route=log.route)
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("pinned")) as gateway:
        gateway.shell(SEED)
        with httpx.Client(
            base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.master_key}"}
        ) as api:
            for i, route in enumerate(("echo", "echo-pair", "echo", "echo-slow", "echo")):
                answer = api.post(
                    "/v1/chat/completions",
                    json={"model": route, "messages": [{"role": "user", "content": f"hi {i}"}]},
                    headers={"x-switchyard-tags": "board" if i % 2 else "demo"},
                )
                assert answer.status_code == 200, answer.text
        # the journal writes off the request path: the scores need its five rows
        gateway.shell_until(
            "from gateway.models import RequestLog; print(RequestLog.objects.count())",
            lambda out: int(out.split()[-1]) >= 5,
        )
        gateway.shell(SCORES)
        yield gateway


def signed_in(browser: Any, gw: Gateway, user: str, **options: Any) -> Any:
    context = browser.new_context(base_url=gw.url, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    page.goto("/login/")
    page.fill("#id_username", user)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def pin(page: Any, metric: str, group_by: str, score_name: str = "") -> None:
    form = page.locator("#pinned-board details.pin-form")
    if form.get_attribute("open") is None:
        form.locator("summary").click()
    form.locator("#id_metric").select_option(metric)
    form.locator("#id_group_by").select_option(group_by)
    form.locator("#id_window").select_option("24h")
    form.locator("#id_score_name").fill(score_name)
    with page.expect_response(lambda r: "/dashboard/pin/" in r.url and r.status == 200):
        form.get_by_role("button", name="Pin chart").click()


def titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".pinned-chart h3").all_inner_texts()]


def test_an_owner_pins_reorders_and_sees_the_board_after_a_reload(browser, gw: Gateway) -> None:
    page = signed_in(browser, gw, "ops", viewport={"width": 1440, "height": 1000})
    assert "Nothing is pinned to this board yet." in page.inner_text("#pinned-board")
    pin(page, "requests", "route")
    pin(page, "latency_p95", "model")
    assert [t.split(" ·")[0] for t in titles(page)] == [
        "Requests by route",
        "Latency p95 by model",
    ]
    page.get_by_role("button", name="Move Latency p95 by model earlier").click()
    page.wait_for_function(
        "() => document.querySelector('.pinned-chart h3').textContent.startsWith('Latency')"
    )
    page.reload()
    assert [t.split(" ·")[0] for t in titles(page)] == [
        "Latency p95 by model",
        "Requests by route",
    ]
    board = page.locator("#pinned-board")
    requests_chart = board.locator(".pinned-chart").nth(1)
    assert requests_chart.locator("svg.chart rect").count() == 3  # echo, echo-pair, echo-slow
    assert requests_chart.locator("tbody tr").first.inner_text().split("\t") == ["echo", "3"]
    # another board's tab swaps the board alone (htmx), its URL kept for a reload
    board.get_by_role("link", name="research").click()
    page.wait_for_url(re.compile(r"/\?board=\d+#pinned-board$"))
    assert "Nothing is pinned to this board yet." in page.inner_text("#pinned-board")
    current = page.locator("#pinned-board nav [aria-current=true]").inner_text()
    assert current == "research"
    assert page.locator("#dashboard-body").count() == 1
    page.context.close()


def test_a_member_pins_to_their_team_from_the_logs_page(browser, gw: Gateway) -> None:
    page = signed_in(browser, gw, "mia", viewport={"width": 1440, "height": 900})
    page.goto("/logs/?status=error&route=echo")
    page.get_by_role("link", name="Pin a chart").click()
    page.wait_for_url(re.compile(r"/dashboard/pin/\?metric=errors"))  # the filters carried
    assert page.locator("#id_group_by").input_value() == "model"  # one route: by model
    assert "route: echo" in page.inner_text("#pin-unpinned")  # said, not silently dropped
    assert page.locator("#id_team option").all_inner_texts() == ["research"]  # no global board
    page.locator("#id_metric").select_option("requests")
    page.locator("#id_group_by").select_option("tag")
    page.get_by_role("button", name="Pin chart").click()
    page.wait_for_url(re.compile(r"/\?board=\d+#pinned-board$"))
    page.reload()
    assert [t.split(" ·")[0] for t in titles(page)] == ["Requests by tag"]
    # a member's board shows the team's keys they hold: none sent traffic here
    assert "Nothing in this window." in page.inner_text(".pinned-chart")
    page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_board_passes_axe_and_is_photographed(browser, gw: Gateway, scheme) -> None:
    folder = screenshot_dir()
    for width, height in ((1440, 1100), (390, 1600)):
        page = signed_in(
            browser,
            gw,
            "ops",
            viewport={"width": width, "height": height},
            color_scheme=scheme,
        )
        if "Average grade" not in page.inner_text("#pinned-board"):
            pin(page, "score", "route", "grade")
            page.reload()
        assert "Average grade by route" in page.inner_text("#pinned-board")
        assert "(1 to 5)" in page.inner_text("#pinned-board")
        page.locator("#pinned-board details.pin-form summary").click()
        page.wait_for_load_state("networkidle")
        form = page.context.new_page()
        form.goto(
            "/dashboard/pin/?metric=score&group_by=team&unpinned=route:+echo&unpinned=tag:+demo"
        )
        assert form.locator("#id_group_by").input_value() == "team"
        if width == 1440:
            assert serious(page) == []
            assert serious(form) == []
        form.screenshot(path=str(folder / f"dashboard-pin-{width}-{scheme}.png"), full_page=True)
        form.close()
        page.locator("#pinned-board").screenshot(
            path=str(folder / f"pinned-board-{width}-{scheme}.png")
        )
        page.screenshot(path=str(folder / f"dashboard-{width}-{scheme}.png"), full_page=True)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways at {width} px"
        page.context.close()
