"""What the console's browser tests share besides their fixtures (``conftest.py``: the
gateway, the browser, a page): Debian's Chromium and its flags, the operator who signs
in, screenshots."""

from __future__ import annotations

import re

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
USER, PASSWORD = "ops", "pw-123456789"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page) -> None:
    page.goto("/")
    assert "/login/" in page.url
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
