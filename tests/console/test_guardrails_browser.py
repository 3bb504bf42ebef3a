"""The guardrails page in headless Chromium against a real server: create a content
filter from the form (the kind's example params), test a text with an e-mail address
on its page and see it masked, switch monitor mode from the list; at a laptop's width
and a phone's, with no part of the page wider than the window. Screenshots:
tests/screenshots.py says where."""

from __future__ import annotations

import re

import pytest

from tests.console.browser_support import shot, sign_in
from tests.live import Gateway

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def new_page(browser, gw: Gateway, viewport: dict):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=viewport, base_url=gw.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def overflow(page) -> int:  # type: ignore[no-untyped-def]
    """How many pixels the page is wider than the window (0: nothing sticks out)."""
    width: int = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


def test_create_a_content_filter_and_test_an_email(gw: Gateway, browser) -> None:
    context, page, errors = new_page(browser, gw, WIDE)
    sign_in(page)
    page.click("nav summary:has-text('Access')")
    page.click("nav >> text=Guardrails")
    page.wait_for_url(re.compile(r"/guardrails/$"))
    assert page.locator("text=No guardrails yet").is_visible()
    page.click("text=New guardrail")
    page.wait_for_url(re.compile(r"/guardrails/new/$"))
    # the content filter is chosen, its example in the params box
    assert page.locator("input[name=kind][value=litellm_content_filter]").is_checked()
    assert '"email"' in page.locator("#id_params").input_value()
    # choosing another kind puts its example there, and back again
    page.check("input[name=kind][value=presidio]")
    assert "pii_entities_config" in page.locator("#id_params").input_value()
    page.check("input[name=kind][value=litellm_content_filter]")
    assert '"email"' in page.locator("#id_params").input_value()
    page.fill("#id_name", "pii-mask")
    page.check("input[name=modes][value=post_call]")
    page.fill("#id_description", "Mask e-mail addresses; block tickets")
    assert overflow(page) == 0
    shot(page, "guardrail-form-1440")

    # a bad regex is named on the field, the form swapped in place
    good = page.locator("#id_params").input_value()
    page.fill("#id_params", good.replace("TCK-\\\\d{6}", "(["))
    page.click("button:has-text('Create guardrail')")
    page.locator(".field.has-error .errors", has_text="params.patterns[1].pattern").wait_for()
    shot(page, "guardrail-form-error-1440")
    page.fill("#id_params", good)
    page.click("button:has-text('Create guardrail')")
    page.wait_for_url(re.compile(r"/guardrails/\d+/$"))
    assert page.locator(".alert.ok", has_text="Saved guardrail pii-mask").is_visible()
    assert "project nightingale" in page.locator("pre.params").inner_text()

    page.fill("#test-text", "Please write to ann.lee@example.com about TCK-1234 soon.")
    page.click("#test button:has-text('Run')")
    page.locator("#test-result pre.rewritten").wait_for()
    result = page.locator("#test-result")
    assert "Please write to [EMAIL_REDACTED] about TCK-1234 soon." in result.inner_text()
    assert "intervened" in result.inner_text() and "email" in result.inner_text()
    assert "ann.lee@example.com" not in result.inner_text()
    assert overflow(page) == 0
    shot(page, "guardrail-test-1440")
    page.fill("#test-text", "ticket TCK-123456 is open")
    page.click("#test button:has-text('Run')")
    page.locator("#test-result .pill.verdict", has_text="blocked").wait_for()

    # monitor mode from the list (htmx swaps the row)
    page.click("nav summary:has-text('Access')")
    page.click("nav >> text=Guardrails")
    row = page.locator("tbody", has_text="pii-mask")
    row.locator("button:has-text('Monitor only')").click()
    row.locator(".pill.warn", has_text="monitor only").wait_for()
    assert row.locator("button:has-text('Enforce')").is_visible()
    assert overflow(page) == 0
    shot(page, "guardrails-list-1440")
    context.close()
    assert not errors, errors

    # a phone: the list, the form and the test panel fit the window
    context, page, errors = new_page(browser, gw, PHONE)
    sign_in(page)
    page.goto("/guardrails/")
    assert overflow(page) == 0
    shot(page, "guardrails-list-390")
    page.locator("a", has_text="pii-mask").first.click()
    page.wait_for_url(re.compile(r"/guardrails/\d+/$"))
    page.fill("#test-text", "mail ann.lee@example.com")
    page.click("#test button:has-text('Run')")
    page.locator("#test-result pre.rewritten").wait_for()
    assert (
        "monitor only: in traffic this is recorded"
        in page.locator("#test-result").inner_text().lower()
    )
    assert overflow(page) == 0
    shot(page, "guardrail-test-390")
    page.goto("/guardrails/new/")
    assert overflow(page) == 0
    shot(page, "guardrail-form-390")
    context.close()
    assert not errors, errors
