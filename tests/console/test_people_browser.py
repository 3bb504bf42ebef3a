"""People in headless Chromium at 1440 and 390 px (#43): an owner invites a teammate into
a team; the link, opened in a fresh browser context, sets a password and signs them in
with the invited role and team; they make a key that /v1 accepts; the owner deactivates
them on their page and the key gets 401 at once; the owner's sign-in settings page shows
the OpenID provider's settings (secret masked) and tests its discovery against a real
provider on 127.0.0.1. Screenshots: tests/screenshots.py says where."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, shot
from tests.live import Gateway, free_port, running_gateway
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, needs_provider, oidc_provider

pytestmark = [pytest.mark.browser, needs_provider]
WIDTHS = {1440: "desktop", 390: "phone"}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("idp")
    with oidc_provider(free_port(), ["http://127.0.0.1/login/sso/callback/"], folder) as url:
        yield url


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, issuer: str) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {
        "SWITCHYARD_OIDC_ISSUER": issuer,
        "SWITCHYARD_OIDC_CLIENT_ID": CLIENT_ID,
        "SWITCHYARD_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "SWITCHYARD_OIDC_ROLE_MAP": "llm-admins=admin",
        "SWITCHYARD_OIDC_TEAM_MAP": "team-red=research",
    }
    with running_gateway(tmp_path_factory.mktemp("people"), env) as gateway:
        gateway.shell(
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r}); "
            "from gateway.models import Team; Team.objects.create(name='research')"
        )
        yield gateway


def new_page(browser, gw: Gateway, width: int):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=gw.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def sign_in(page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def v1_status(gw: Gateway, raw: str) -> int:
    reply = httpx.post(
        f"{gw.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {raw}"},
        json={"model": "no-such-route", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    return reply.status_code


@pytest.mark.parametrize("width", list(WIDTHS))
def test_invite_accept_make_a_key_and_deactivate(browser, gw: Gateway, width: int) -> None:
    name, size = f"teammate{width}", WIDTHS[width]
    owner_context, owner, owner_errors = new_page(browser, gw, width)
    sign_in(owner, USER, PASSWORD)
    owner.goto("/users/")
    owner.fill("#id_username", name)
    owner.fill("#id_email", f"{name}@example.com")
    owner.select_option("#id_role", "member")
    owner.get_by_label("research").check()
    owner.select_option("#id_expires_in_days", "3")
    owner.click("#invite button[type=submit]")
    link_box = owner.locator("#invite-link")
    link_box.wait_for()
    link = link_box.input_value()
    assert "/invite/" in link
    assert owner.locator("#invites tr", has_text=name).is_visible()
    shot(owner, f"people-invite-{size}")

    # The teammate, in a browser of their own.
    their_context, teammate, their_errors = new_page(browser, gw, width)
    teammate.goto(link)
    assert teammate.get_by_role("heading", name=f"Welcome, {name}").is_visible()
    assert "member" in teammate.locator(".card").inner_text()
    shot(teammate, f"people-accept-{size}")
    teammate.fill("#id_password", "short")
    teammate.fill("#id_password_again", "short")
    teammate.click("button:has-text('Set password and sign in')")
    assert "at least 8 characters" in teammate.locator(".errors").first.inner_text()
    teammate.fill("#id_password", "their-own-password-1")
    teammate.fill("#id_password_again", "their-own-password-1")
    teammate.click("button:has-text('Set password and sign in')")
    teammate.wait_for_url(re.compile(r"/$"))
    assert f"{name} · member" in teammate.locator(".signout").inner_text()
    # Their key: the form offers their team only.
    teammate.goto("/keys/")
    assert teammate.locator("#id_team option").all_inner_texts() == ["research"]
    teammate.fill("#id_name", f"{name}-laptop")
    teammate.click("button:has-text('Create key')")
    raw = teammate.locator("#new-key").input_value()
    assert v1_status(gw, raw) == 404  # the key works: the route is unknown
    shot(teammate, f"people-member-keys-{size}")
    # The used link opens nothing.
    teammate.goto(link)
    assert teammate.get_by_role("heading", name="This invitation link no longer works").is_visible()

    # The owner deactivates them from their page.
    owner.goto("/users/")
    owner.click(f"a:has-text('{name}')")
    owner.wait_for_url(re.compile(r"/users/\d+/$"))
    assert "research" in owner.locator("#teams").inner_text()
    assert f"{name}-laptop" in owner.locator("#keys").inner_text()
    shot(owner, f"people-user-{size}")
    owner.click("#access button:has-text('Deactivate')")
    owner.wait_for_url(re.compile(r"/users/\d+/$"))
    assert "deactivated" in owner.locator("h1").inner_text()
    assert v1_status(gw, raw) == 401
    teammate.goto("/keys/")
    assert "/login/" in teammate.url  # signed out
    shot(owner, f"people-deactivated-{size}")
    owner_context.close()
    their_context.close()
    assert owner_errors == [] and their_errors == []


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_sign_in_settings_page(browser, gw: Gateway, issuer: str, width: int) -> None:
    context, page, errors = new_page(browser, gw, width)
    sign_in(page, USER, PASSWORD)
    page.goto("/users/")
    page.click("a:has-text('Sign-in settings')")
    page.wait_for_url(re.compile(r"/settings/sign-in/$"))
    assert page.get_by_role("heading", name="Single sign-on is on").is_visible()
    assert page.locator("#callback-url").input_value() == f"{gw.url}/login/sso/callback/"
    assert CLIENT_SECRET not in page.content() and "set (hidden)" in page.content()
    assert "research" in page.locator("#maps").inner_text()
    page.click("button:has-text('Test discovery')")
    page.locator("#discovery .alert").wait_for()
    assert "answers and fits" in page.locator("#discovery").inner_text()
    assert f"{issuer}/" in page.locator("#discovery").inner_text()
    shot(page, f"sign-in-settings-{WIDTHS[width]}")
    context.close()
    assert errors == []
