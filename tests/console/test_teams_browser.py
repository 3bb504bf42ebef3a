"""Teams and users in headless Chromium: an owner creates a team with limits, puts a
user in it, gives that user a role, makes a key of the team; the user, signed in, sees
only what the role allows and a clear page for the rest. Screenshots: tests/screenshots.py
says where."""

from __future__ import annotations

import re

import pytest

from tests.console.browser_support import shot, sign_in
from tests.live import Gateway

pytestmark = pytest.mark.browser


def test_owner_builds_a_team_and_a_member_sees_only_theirs(page, gw: Gateway, browser) -> None:
    gw.shell(
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('maya', 'maya@example.com', 'pw-123456789'); "
        "User.objects.create_user('vince', '', 'pw-123456789')"
    )
    sign_in(page)
    page.goto("/teams/")
    assert page.locator("h2:has-text('No teams yet')").is_visible()
    page.fill("#id_name", "research")
    page.fill("#id_description", "Model evaluation and agents")
    page.fill("#id_rpm_limit", "120")
    page.fill("#id_tpm_limit", "200000")
    page.fill("#id_budget_usd", "250")
    page.click("button:has-text('Create team')")
    page.wait_for_url(re.compile(r"/teams/\d+/$"))
    page.select_option("#id_user", "maya")
    page.select_option("#id_role", "member")
    page.click("button:has-text('Add or change member')")
    page.wait_for_url(re.compile(r"/teams/\d+/$"))
    page.select_option("#id_user", "vince")
    page.select_option("#id_role", "viewer")
    page.click("button:has-text('Add or change member')")
    page.wait_for_url(re.compile(r"/teams/\d+/$"))
    assert page.locator("tr", has_text="maya").locator(".pill").inner_text() == "member"
    shot(page, "team-edit")

    page.goto("/keys/")
    page.fill("#id_name", "maya-agent")
    page.select_option("#id_team", label="research")
    page.select_option("#id_user", "maya")
    page.click("button:has-text('Create key')")
    page.locator(".created-key").wait_for()
    assert page.locator("tr", has_text="maya-agent").locator(".pill", has_text="research").count()

    page.goto("/teams/")
    row = page.locator("tr", has_text="research")
    assert "120 req/min" in row.inner_text() and "$250" in row.inner_text()
    shot(page, "teams")

    page.goto("/users/")
    vince = page.locator("tr", has_text="vince")
    vince.locator("select[name=role]").select_option("viewer")
    vince.locator("button:has-text('Set')").click()
    page.wait_for_url(re.compile(r"/users/#user-\d+$"))
    assert page.locator("tr", has_text="ops").locator("select[name=role]").input_value() == "owner"
    assert (
        page.locator("tr", has_text="maya").locator("select[name=role]").input_value() == "member"
    )
    shot(page, "users")

    # Maya, a member: her key, no providers, no users; a clear page when she tries.
    context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=gw.url)
    maya = context.new_page()
    maya.goto("/login/")
    maya.fill("#id_username", "maya")
    maya.fill("#id_password", "pw-123456789")
    maya.click("button[type=submit]")
    maya.wait_for_url(re.compile(r"/$"))
    nav = maya.locator("nav.nav").text_content()  # closed sections' links too
    assert "Keys" in nav and "Playground" in nav
    assert "Providers" not in nav and "Users" not in nav
    maya.goto("/keys/")
    assert maya.locator("tr", has_text="maya-agent").count() == 1
    maya.goto("/users/")
    assert maya.locator("h1").inner_text() == "Not allowed"
    assert "member" in maya.locator(".card").inner_text()
    shot(maya, "forbidden-member")
    context.close()
