"""Issue #32's playground points in headless Chromium at 1440 px and at phone width
(390 px): the answers of a run come into view, Ctrl/Cmd+Enter sends the follow-up,
Raw and Copy read as buttons, blind mode shows no figures until the vote, the word
diff keeps its spaces, and prompts are saved, loaded and deleted by name.

Screenshots go to a temporary folder (``PLAYGROUND_SHOTS`` names another) to be
looked at, never to docs/."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, signed_in_page
from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

USER, PASSWORD = "rounder", "pw-round-three-1"
SHOTS = Path(os.environ.get("PLAYGROUND_SHOTS") or tempfile.mkdtemp(prefix="playground-shots-"))
LONG = "\n\n".join(f"Paragraph {n} of a long answer about caching." for n in range(1, 25))

SETUP = f"""
from django.contrib.auth.models import User
from gateway.models import Deployment, Provider, Route
User.objects.create_user({USER!r}, '', {PASSWORD!r}, is_staff=True)
echo = Provider.objects.get(name='echo')
for name, reply in (("aa-tool", "The tool returned echo: hi"), ("ab-tool", "The tool said echo: hi")):
    route = Route.objects.create(name=name)
    Deployment.objects.create(route=route, provider=echo, model=name, params={{'reply': reply}})
slow = Route.objects.create(name="ac-slow")
Deployment.objects.create(route=slow, provider=echo, model="slow", params={{'delay': 0.03}})
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("round-three")) as gateway:
        gateway.shell(SETUP)
        time.sleep(1.2)  # the server's registry snapshot picks up the new routes
        yield gateway


def signed_in(browser, gw: Gateway, width: int, height: int):
    return signed_in_page(browser, gw, USER, PASSWORD, {"width": width, "height": height})


@pytest.fixture(params=[(1440, 900), (390, 844)], ids=["1440px", "390px"])
def page(request, browser, gw: Gateway):
    page = signed_in(browser, gw, *request.param)
    page.width = request.param[0]
    yield page
    page.context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}-{page.width}.png"), full_page=False)


def choose(page, *routes: str) -> None:
    rows = page.locator("#pg-column-rows > li")
    for n, route in enumerate(routes):
        rows.nth(n).locator("select[name=route]").select_option(route)


def wait_done(page, turns: int = 1) -> None:
    """Until turn ``turns`` has ended: both columns done AND the turn's end message
    handled (the grid no longer ``running``). The server sends that message only after
    it saved the turn, a moment after the columns' last states; until then the page
    ignores Ctrl/Cmd+Enter (a run is under way), so a follow-up keyed in between the
    two would be dropped."""
    page.wait_for_function(
        f"""document.querySelectorAll('#pg-grid .pg-col[data-state=done]').length === 2
        && document.querySelectorAll('#pg-grid .pg-col[data-index="1"] .pg-msg.assistant')
        .length === {turns}
        && !document.getElementById('pg-grid').classList.contains('running')""",
        timeout=20_000,
    )


# The first column's head is on screen, not under the sticky top bar, in the upper half.
IN_VIEW = """el => { const head = el.querySelector('.pg-col-head');
  const r = head.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + 10, r.top + r.height / 2);
  return r.top >= 0 && r.top < window.innerHeight * 0.5 && head.contains(hit); }"""


IN_SIGHT = """el => { const r = el.getBoundingClientRect();
  return r.bottom > 0 && r.top < window.innerHeight
    && el.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)); }"""


def test_a_run_brings_its_answers_into_view(page) -> None:
    choose(page, "ac-slow", "ac-slow")
    page.fill("textarea[name=prompt]", LONG)
    grid = page.locator("#pg-grid")
    page.click("#pg-run")
    page.wait_for_selector('#pg-grid .pg-col[data-state="streaming"]', timeout=10_000)
    page.wait_for_function(
        "document.querySelector('#pg-grid .pg-text').textContent.length > 40", timeout=10_000
    )
    page.wait_for_timeout(700)  # the smooth scroll
    assert grid.evaluate(IN_VIEW), "the answers stream below the fold"
    # The form's Stop is out of sight now: a floating bar keeps one at hand.
    page.wait_for_selector("#pg-runbar:not([hidden])")
    assert not page.locator("#pg-stop").evaluate(IN_SIGHT)
    assert page.locator("#pg-runbar-stop").evaluate(IN_SIGHT)
    shot(page, "run-streaming")
    page.click("#pg-runbar-stop")
    page.wait_for_function(
        "document.querySelectorAll('#pg-grid .pg-col[data-state=stopped]').length === 2",
        timeout=10_000,
    )
    # the bar goes with the turn's end, which follows the columns' last state
    page.wait_for_selector("#pg-runbar", state="hidden", timeout=5_000)


def test_ctrl_or_cmd_enter_sends_the_follow_up(page) -> None:
    choose(page, "aa-tool", "ab-tool")
    saved = page.locator("#pg-history-list li").count()
    page.fill("textarea[name=prompt]", "first")
    page.locator("textarea[name=prompt]").press("Control+Enter")
    wait_done(page, 1)
    # the run is saved and "Recent comparisons" lists it without a reload
    page.wait_for_function(
        f"document.querySelectorAll('#pg-history-list li').length === {saved + 1}"
    )
    page.wait_for_selector("#pg-followup:not([hidden])")
    box = page.locator("#pg-followup textarea")
    # At phone width too the box is wide enough to write in (not squeezed by its button).
    assert box.bounding_box()["width"] >= 0.7 * page.locator("#pg-followup").bounding_box()["width"]
    box.fill("second")
    box.press("Control+Enter")
    wait_done(page, 2)
    box.fill("third")
    box.press("Meta+Enter")  # Cmd+Enter on macOS
    wait_done(page, 3)
    users = page.locator('#pg-grid .pg-col[data-index="0"] .pg-msg.user').all_inner_texts()
    assert users == ["first", "second", "third"]
    assert box.input_value() == ""
    box.scroll_into_view_if_needed()
    shot(page, "follow-up")


CONTRAST = """el => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let node = el, bg = "rgba(0, 0, 0, 0)";
  while (node && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) {
    bg = getComputedStyle(node).backgroundColor; node = node.parentElement; }
  const s = getComputedStyle(el);
  let opacity = 1;
  for (let n = el; n; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
  const [a, b] = [lum(s.color), lum(bg)].sort((x, y) => y - x);
  return { ratio: (a + 0.05) / (b + 0.05), opacity, border: s.borderTopWidth };
}"""


def test_raw_copy_and_the_word_diff_read_clearly(page) -> None:
    choose(page, "aa-tool", "ab-tool")
    page.fill("textarea[name=prompt]", "say it")
    page.click("#pg-run")
    wait_done(page)
    for name in (".pg-raw-toggle", ".pg-copy"):
        button = page.locator(f'#pg-grid .pg-col[data-index="0"] {name}').first
        style = button.evaluate(CONTRAST)  # at rest: no hover
        assert style["opacity"] == 1 and style["ratio"] >= 4.5, (name, style)
        assert style["border"] != "0px"
    page.wait_for_selector("#pg-panel .pg-diff-form button")
    page.locator("#pg-panel .pg-diff-form button").click()
    page.wait_for_selector("#pg-diff .pg-diff")
    diff = page.locator("#pg-diff .pg-diff")
    assert diff.inner_text() == "The tool returned said echo: hi"
    page.locator("#pg-compare, .pg-compare").first.scroll_into_view_if_needed()
    shot(page, "diff")
    page.locator('#pg-grid .pg-col[data-index="0"] .pg-answer-tools').scroll_into_view_if_needed()
    shot(page, "answer-tools")


def test_blind_mode_shows_no_figures_until_the_vote(page) -> None:
    choose(page, "aa-tool", "ab-tool")
    page.fill("textarea[name=prompt]", "which?")
    page.check("input[name=blind]")
    page.click("#pg-run")
    wait_done(page)
    page.wait_for_selector("#pg-panel .pg-vote form button", timeout=20_000)
    assert page.locator("#pg-grid [data-metric]").count() == 0
    notes = page.locator("#pg-grid .pg-metrics-note").all_inner_texts()
    assert len(notes) == 2 and all("hidden until you vote" in n for n in notes)
    page.locator("#pg-grid").scroll_into_view_if_needed()
    shot(page, "blind")
    page.locator("#pg-panel .pg-vote button", has_text="A is best").click()
    page.wait_for_selector("#pg-panel .pg-reveal")
    assert page.locator('#pg-grid [data-metric="total_ms"]').count() == 2
    assert page.locator("#pg-grid .pg-metrics-note").count() == 0


def test_a_prompt_version_is_saved_opened_and_saved_again(page) -> None:
    """The form saved as a registry prompt's version, opened into a new comparison, and
    saved again as the next version (a name's spaces become dashes)."""
    name = f"Greeting {page.width}"
    saved_as = name.replace(" ", "-")
    page.fill("textarea[name=system]", "Be kind to {{team}}.")
    page.fill("textarea[name=prompt]", "Say hello to the team")
    page.fill("input[name=temperature] >> nth=0", "0.4")
    page.locator("#pg-saved summary").click()
    page.fill("#pg-saved input[name=name]", name)
    page.locator("#pg-saved button[type=submit]").click()
    page.wait_for_selector(f"#pg-saved .pg-saved-list a:has-text('{saved_as}')")
    assert f"Saved “{saved_as}” v1." in page.locator("#pg-saved .pg-saved-note").inner_text()
    shot(page, "saved-prompts")

    page.goto("/playground/")
    page.locator("#pg-saved summary").click()
    page.locator(f"#pg-saved .pg-saved-list a:has-text('{saved_as}')").click()
    page.wait_for_url("**/playground/?prompt=*")
    assert page.input_value("textarea[name=prompt]") == "Say hello to the team"
    assert page.input_value("textarea[name=system]") == "Be kind to {{team}}."
    assert page.input_value("input[name=temperature] >> nth=0") == "0.4"
    assert page.input_value("#pg-saved input[name=name]") == saved_as
    page.fill("textarea[name=system]", "Be brief with {{team}}.")
    page.fill("#pg-saved input[name=note]", "briefer")
    page.locator("#pg-saved button[type=submit]").click()
    page.wait_for_selector(f"#pg-saved .pg-saved-note:has-text('{saved_as}” v2')")
