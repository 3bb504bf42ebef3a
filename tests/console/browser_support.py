"""What the console's browser tests share besides their fixtures (``conftest.py``: the
gateway, the browser, a page): Debian's Chromium and its flags, the operator who signs
in, screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.screenshots import screenshot_dir

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = screenshot_dir()
LAPTOP = {"width": 1366, "height": 860}
WIDE = {"width": 1440, "height": 900}  # the screenshots' width
USER, PASSWORD = "ops", "pw-123456789"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, user: str = USER, password: str = PASSWORD) -> None:
    page.goto("/")
    assert "/login/" in page.url
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def signed_in_page(
    browser: Any,
    gw: Any,
    user: str,
    password: str,
    viewport: dict[str, int],
    landing: str = "/playground/",
    **options: Any,
) -> Any:
    """A page in a context of its own on ``gw`` (``options`` go to the context), signed
    in as ``user`` through the login form and on ``landing`` (close it with
    ``page.context.close()``)."""
    context = browser.new_context(viewport=viewport, base_url=gw.url, **options)
    page = context.new_page()
    page.goto(f"/login/?next={landing}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{landing}")
    return page


def signed_in_state(
    browser: Any, gw: Any, user: str = USER, password: str = PASSWORD
) -> dict[str, Any]:
    """``user``'s session (cookies), signed in once through the login form, for
    contexts to start from (``storage_state``) instead of signing in again; fails on
    any JavaScript error of the login page or the dashboard it lands on."""
    with opened_page(browser, gw, WIDE) as page:
        sign_in(page, user, password)
        state: dict[str, Any] = page.context.storage_state()
    return state


@contextmanager
def opened_page(
    browser: Any, gw: Any, viewport: dict[str, int], timeout: int = 10_000, **options: Any
) -> Iterator[Any]:
    """A page in a context of its own on ``gw`` (``options`` go to the context); fails
    the test on any JavaScript error the page raised."""
    context = browser.new_context(viewport=viewport, base_url=gw.url, **options)
    page = context.new_page()
    page.set_default_timeout(timeout)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
