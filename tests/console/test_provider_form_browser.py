"""The provider form in headless Chromium: choosing a kind shows that kind's fields and
help only (Bedrock: region, key id, secret access key, profile; Vertex AI: project,
location, service-account key). Screenshots: tests/screenshots.py says where."""

from __future__ import annotations

import re

import pytest

from tests.console.browser_support import shot, sign_in
from tests.live import Gateway

pytestmark = pytest.mark.browser

SECRET = "aws-browser-Walrus-51c2"


def visible(tab, selector: str) -> bool:  # type: ignore[no-untyped-def]
    return tab.locator(selector).first.is_visible()


def test_bedrock_and_vertex_forms_show_their_own_fields(page, gw: Gateway) -> None:
    sign_in(page)
    page.goto("/providers/new/")
    # OpenAI-compatible (the default): no cloud settings
    assert not visible(page, "#id_aws_region_name") and not visible(page, "#id_vertex_project")

    page.select_option("#id_kind", "bedrock")
    for field in ("#id_aws_region_name", "#id_aws_access_key_id", "#id_aws_profile_name"):
        assert visible(page, field), field
    assert not visible(page, "#id_vertex_project") and not visible(page, "#id_api_version")
    assert visible(page, "label span:text-is('Secret access key')")
    assert not visible(page, "label span:text-is('Secret')")
    assert visible(page, "text=Empty: https://bedrock-runtime.REGION.amazonaws.com")
    page.fill("#id_name", "aws-prod")
    page.fill("#id_aws_region_name", "eu-west-1")
    page.fill("#id_aws_access_key_id", "AKIAEXAMPLE")
    page.fill("#id_secret", SECRET)
    shot(page, "provider-bedrock")

    page.select_option("#id_kind", "vertex_ai")
    for field in ("#id_vertex_project", "#id_vertex_location", "#id_api_version"):
        assert visible(page, field), field
    assert not visible(page, "#id_aws_region_name")
    assert visible(page, "label span:text-is('Service-account key')")
    shot(page, "provider-vertex")

    # saved as Bedrock: the settings come back, the secret does not
    page.select_option("#id_kind", "bedrock")
    page.click("button:has-text('Add provider')")
    page.wait_for_url(re.compile(r"/providers/#provider-\d+$"))
    page.locator("tbody", has_text="aws-prod").locator("a:has-text('Edit')").click()
    page.wait_for_url(re.compile(r"/providers/\d+/$"))
    assert page.locator("#id_aws_region_name").input_value() == "eu-west-1"
    assert visible(page, "#id_aws_region_name") and not visible(page, "#id_vertex_project")
    assert page.locator("#id_secret").input_value() == "" and SECRET not in page.content()
