"""Issue #43, the console defects a new team lead met, in headless Chromium against a
live gateway at 1440 px and 390 px: each test failed before its fix. Screenshots go to
the scratch folder (tests/screenshots.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import sign_in
from tests.live import Gateway, running_gateway
from tests.screenshots import screenshot_dir

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = screenshot_dir()
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
USER, PASSWORD = "ops", "pw-123456789"

SEED = """
from django.contrib.auth.models import User
from gateway.models import Provider
User.objects.create_superuser('ops', '', 'pw-123456789')
Provider.objects.get_or_create(name='echo', defaults={'kind': 'echo'})
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("defects")) as gateway:
        gateway.shell(SEED)
        yield gateway


@pytest.fixture(scope="module")
def signed_in(browser, gw: Gateway) -> dict:
    """The operator's session (cookies), signed in once through the login form: each
    page's context starts from it instead of signing in again (three page loads, the
    dashboard's among them: ~1.5 s of each test's page on a loaded 2-core runner)."""
    context = browser.new_context(viewport=LAPTOP, base_url=gw.url)
    page = context.new_page()
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    sign_in(page, USER)
    state = context.storage_state()
    context.close()
    return state


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


def label(page) -> str:
    return "1440" if page.viewport_size["width"] > 1000 else "390"


def in_view(page, selector: str) -> bool:
    """Whether ``selector`` is inside the viewport (not above or below the fold)."""
    return page.eval_on_selector(
        selector,
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }",
    )


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_create_route_then_its_deployment_form_lists_the_providers_models(width, request) -> None:
    page = request.getfixturevalue(width)
    name = f"picker-{width}"
    page.goto("/routes/")
    page.click("text=New route")
    page.fill("#id_name", name)
    page.click("button:has-text('Create route')")
    page.wait_for_url(re.compile(r"/routes/\d+/deployments/new/$"))
    # the provider's own list ("echo" answers /models with ["echo"]) arrives by htmx
    page.wait_for_function(
        "() => [...document.querySelectorAll('form.dep datalist option')]"
        ".some(o => o.label.includes('served by this provider'))"
    )
    shot(page, f"defects-route-then-picker-{label(page)}")
    page.fill("input[name=model]", "echo")
    page.click("button:has-text('Add deployment')")
    page.wait_for_url(re.compile(r"/routes/#route-\d+$"))
    assert "echo" in page.locator("article.route", has_text=name).locator(".dep").inner_text()


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_a_created_key_is_scrolled_to_and_focused(width, request) -> None:
    page = request.getfixturevalue(width)
    page.goto("/keys/")
    page.fill("#id_name", f"shown-once-{width}")
    button = page.locator("button:has-text('Create key')")
    button.scroll_into_view_if_needed()
    button.click()
    page.locator(".created-key").wait_for()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'new-key'"
    )
    assert in_view(page, "#new-key")
    assert page.locator("#new-key").input_value().startswith("sy-")
    shot(page, f"defects-key-created-{label(page)}")


FIVE_MB = 5 * 1024 * 1024


def paste(page, selector: str, size: int) -> None:
    """Put ``size`` characters into a field as a paste does (its value, then an input
    event), made in the page: Playwright's ``fill`` sends the text through its protocol,
    which took 6 s for each 5 MB."""
    page.eval_on_selector(
        selector,
        "(el, n) => { el.value = 'x'.repeat(n); el.dispatchEvent(new Event('input', {bubbles: true})); }",
        size,
    )


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_oversized_input_is_a_field_error(width, request) -> None:
    page = request.getfixturevalue(width)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.goto("/routes/new/")
    page.fill("#id_name", f"huge-{width}")
    paste(page, "#id_description", FIVE_MB)
    assert page.eval_on_selector("#id_description", "el => el.value.length") == FIVE_MB
    page.click("button:has-text('Create route')")
    error = page.locator(".field.has-error", has=page.locator("#id_description")).locator(".errors")
    error.wait_for()
    assert "Too large" in error.inner_text() and "5.0 MB" in error.inner_text()
    shot(page, f"defects-oversized-route-{label(page)}")
    # a description over its 500 characters (under the body cap) says so too
    page.fill("#id_description", "y" * 600)
    page.click("button:has-text('Create route')")
    assert "At most 500 characters (this has 600)" in error.inner_text()
    assert not sent, sent

    page.goto("/routes/import/")
    paste(page, "#id_config", FIVE_MB)
    page.click("button:has-text('Preview changes')")
    error = page.locator(".field.has-error", has=page.locator("#id_config")).locator(".errors")
    error.wait_for()
    assert "Too large" in error.inner_text()
    assert not sent, sent


def test_the_nav_fits_one_line_at_1440_and_is_a_menu_at_390(laptop, phone) -> None:
    laptop.goto("/routes/")
    bar = laptop.locator("header.topbar").bounding_box()
    assert bar["height"] <= 60, bar  # one line: "Sign out" did wrap at 1440 px
    signout = laptop.locator(".signout button").bounding_box()
    assert signout["height"] < 40 and signout["x"] + signout["width"] <= 1440
    # the current page's section is marked; each section opens its links
    assert laptop.locator("details.nav-section[data-current] summary").inner_text() == "Models"
    for section, link in (("Access", "Keys"), ("Observe", "Spend"), ("Build", "Evals")):
        laptop.click(f"nav summary:has-text('{section}')")
        assert laptop.locator(f".nav-menu a:has-text('{link}')").is_visible()
    assert laptop.locator("details.nav-section[open]").count() == 1  # one at a time
    shot(laptop, "defects-nav-1440")
    laptop.click(".nav-menu a:has-text('Evals')")
    laptop.wait_for_url(re.compile(r"/evals/$"))
    assert laptop.locator("details.nav-section[data-current] summary").inner_text() == "Build"

    phone.goto("/")
    assert not phone.locator("nav.nav").is_visible()
    phone.click(".nav-burger")
    phone.click("nav summary:has-text('Observe')")
    phone.click(".nav-menu a:has-text('Logs')")
    phone.wait_for_url(re.compile(r"/logs/$"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.click(".nav-burger")
    phone.click("nav summary:has-text('Models')")
    shot(phone, "defects-nav-390")


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_every_field_error_shows_at_once(width, request) -> None:
    page = request.getfixturevalue(width)
    page.goto("/routes/new/")
    page.fill("#id_name", "")
    page.fill("#id_max_attempts", "0")
    page.fill("#id_shadow_percent", "300")
    page.click("button:has-text('Create route')")
    page.locator(".field.has-error").first.wait_for()
    broken = page.locator(".field.has-error").evaluate_all(
        "els => els.map(el => el.querySelector('input, select, textarea').name)"
    )
    assert {"name", "max_attempts", "shadow_percent"} <= set(broken), broken
    shot(page, f"defects-all-errors-{label(page)}")


def test_revoke_is_in_view_in_the_keys_table_at_1440(laptop, gw: Gateway) -> None:
    gw.shell(
        "from gateway.models import ApiKey, Route\n"
        "for n in range(6): Route.objects.get_or_create(name=f'route-with-a-long-name-{n}')\n"
        "key = ApiKey.objects.create(name='a-key-with-a-rather-long-name', prefix='sy-wide', "
        "key_hash='w' * 64)\n"
        "key.routes.set(Route.objects.filter(name__startswith='route-with'))"
    )
    laptop.goto("/keys/")
    row = laptop.locator("tr", has_text="a-key-with-a-rather-long-name")
    revoke = row.locator("button:has-text('Revoke')").bounding_box()
    card = laptop.locator(".keys-layout .card.flush").bounding_box()
    assert revoke["x"] + revoke["width"] <= card["x"] + card["width"], (revoke, card)
    shot(laptop, "defects-keys-1440")


def test_dark_mode_colours_win_over_the_light_ones(browser, gw: Gateway, signed_in: dict) -> None:
    """The dark scheme's own colours (the Anthropic pill, a primary button's text) were
    written before the light rules of the same selectors, which then won: a light-brown
    pill and white text on the pale accent in dark mode."""
    gw.shell(
        "from gateway.models import Provider; "
        "Provider.objects.get_or_create(name='claude-direct', defaults={'kind': 'anthropic'})"
    )
    for scheme, pill, button in (
        ("dark", "rgb(43, 29, 20)", "rgb(15, 17, 23)"),
        ("light", "rgb(251, 243, 236)", "rgb(255, 255, 255)"),
    ):
        page = _page(browser, gw, LAPTOP, signed_in, scheme=scheme)
        page.goto("/providers/")
        found = page.locator(".pill.anthropic").first
        assert found.evaluate("e => getComputedStyle(e).backgroundColor") == pill, scheme
        primary = page.locator(".btn.primary").first
        assert primary.evaluate("e => getComputedStyle(e).color") == button, scheme
        page.screenshot(path=str(SHOTS / f"defects-providers-{scheme}-1440.png"))
        page.context.close()


def test_a_long_provider_name_breaks_instead_of_widening_the_page(
    browser, gw: Gateway, signed_in: dict
) -> None:
    name = "p" * 100
    gw.shell(
        "from gateway.models import Provider; "
        f"Provider.objects.get_or_create(name={name!r}, defaults={{'kind': 'echo'}})"
    )
    for viewport, label in ((LAPTOP, "1440"), (PHONE, "390")):
        page = _page(browser, gw, viewport, signed_in)
        page.goto("/providers/")
        assert page.get_by_text(name).is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (label, width)
        if label == "1440":  # the table fits its card: no sideways scroll for one name
            wrap = page.locator(".table-wrap").first
            over = wrap.evaluate("e => e.scrollWidth - e.clientWidth")
            assert over <= 0, over
        page.screenshot(path=str(SHOTS / f"defects-long-provider-{label}.png"), full_page=True)
        page.context.close()
