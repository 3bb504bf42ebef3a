"""Single sign-on in a real browser (headless Chromium) against a real server and a
real OpenID provider on 127.0.0.1: the login page's SSO button, the provider's sign-in
and consent pages, back to the console signed in; a forged callback refused on the
login page. Screenshots go to the scratch folder (tests/screenshots.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live import free_port, running_gateway
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, needs_provider, oidc_provider
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, needs_provider]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_sign_in_through_the_provider_in_a_browser(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    op_port = free_port()
    env = {
        "SWITCHYARD_OIDC_ISSUER": f"http://127.0.0.1:{op_port}",
        "SWITCHYARD_OIDC_CLIENT_ID": CLIENT_ID,
        "SWITCHYARD_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "SWITCHYARD_OIDC_SCOPES": "openid email profile groups",
        "SWITCHYARD_OIDC_LABEL": "Sign in with Test IdP",
        "SWITCHYARD_OIDC_ROLE_MAP": "llm-admins=admin",
    }
    shots = screenshot_dir()
    with running_gateway(tmp_path / "gw", env) as gw:
        callback = f"{gw.url}/login/sso/callback/"
        with oidc_provider(op_port, [callback], tmp_path), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            for width, name in ((1440, "desktop"), (390, "phone")):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(f"{gw.url}/login/")
                button = page.get_by_role("link", name="Sign in with Test IdP")
                assert button.is_visible()
                page.screenshot(path=str(shots / f"sso-login-{name}.png"))
                button.click()
                page.wait_for_url(f"http://127.0.0.1:{op_port}/interaction/**")
                page.fill("input[name=login]", "alice")
                page.fill("input[name=password]", "anything")
                page.click("button[type=submit]")
                page.get_by_role("button", name="Continue").click()
                page.wait_for_url(f"{gw.url}/")
                assert "alice" in page.content()
                page.screenshot(path=str(shots / f"sso-signed-in-{name}.png"))
                page.close()

            page = browser.new_page(viewport={"width": 1440, "height": 900})
            response = page.goto(f"{callback}?code=forged&state=forged")
            assert response is not None and response.status == 400
            assert (
                page.get_by_role("alert")
                .inner_text()
                .startswith("This sign-in could not be verified")
            )
            assert page.locator("input[name=password]").is_visible()
            page.screenshot(path=str(shots / "sso-refused-desktop.png"))
            browser.close()
