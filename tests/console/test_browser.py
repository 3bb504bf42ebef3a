"""The console in a real browser (headless Chromium) against a real server: sign in,
add a provider and a route, create a key and use it with the OpenAI SDK, watch the
request arrive in the live tail, open it, revoke the key. Screenshots of each page go
to a scratch folder (tests/screenshots.py; docs/screenshots/ only on purpose)."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from tests.console.browser_support import PASSWORD, USER, shot, sign_in
from tests.live import Gateway

pytestmark = pytest.mark.browser

SECRET = "sk-browser-Zebra-7f3a9c"


def test_login_page_and_wrong_password(page) -> None:
    page.goto("/keys/")
    assert "/login/?next=/keys/" in page.url
    shot(page, "login")
    page.fill("#id_username", USER)
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator(".alert.error").is_visible()
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/keys/$"))


def test_the_main_flow(page, gw: Gateway) -> None:
    sign_in(page)
    shot(page, "dashboard-empty")

    # A provider, with a secret that must never come back to the browser.
    page.click("nav summary:has-text('Models')")  # the section's dropdown
    page.click("nav >> text=Providers")
    page.click("text=Add provider")
    page.fill("#id_name", "my-echo")
    page.select_option("#id_kind", "echo")
    page.fill("#id_secret", SECRET)
    page.click("button:has-text('Add provider')")
    page.wait_for_url(re.compile(r"/providers/#provider-\d+$"))
    row = page.locator("tbody", has_text="my-echo")
    assert "stored encrypted" in row.inner_text()
    row.locator("button:has-text('Test connection')").click()
    page.wait_for_selector("text=my-echo answered")
    shot(page, "providers")
    assert SECRET not in page.content()
    row.locator("a:has-text('Edit')").click()
    page.wait_for_url(re.compile(r"/providers/\d+/$"))
    assert page.locator("#id_secret").input_value() == ""
    assert SECRET not in page.content()
    shot(page, "provider-edit")

    # A route with a deployment on that provider, edited in place.
    page.goto("/routes/")
    page.click("text=New route")
    page.fill("#new-route #id_name", "bad name with spaces")
    page.click("#new-route button:has-text('Create route')")
    page.wait_for_selector("#new-route .field.has-error .errors")
    page.fill("#new-route #id_name", "browser-route")
    page.fill("#new-route #id_fallbacks", "echo")
    page.click("#new-route button:has-text('Create route')")
    # "Create route" leads on to the new route's deployment form.
    page.wait_for_url(re.compile(r"/routes/\d+/deployments/new/$"))
    assert "Created route browser-route" in page.locator(".alert.ok").inner_text()
    form = page.locator("form.dep.editing")
    form.locator("select[name=provider]").select_option(label="my-echo")
    form.locator("input[name=model]").fill("echo-browser")
    form.locator("input[name=weight]").fill("-1")
    form.locator("button:has-text('Add deployment')").click()
    page.locator(".field.has-error >> text=greater than or equal to 0").wait_for()
    form = page.locator("form.dep.editing")
    form.locator("input[name=weight]").fill("2")
    form.locator("input[name=output_price]").fill("1.5")
    form.locator("button:has-text('Add deployment')").click()
    page.wait_for_url(re.compile(r"/routes/#route-\d+$"))
    card = page.locator("article.route", has_text="browser-route")
    card.locator(".dep", has_text="echo-browser").wait_for()
    card.locator("button:has-text('Disable')").click()
    card.locator(".pill.off >> text=Disabled").wait_for()
    card.locator("button:has-text('Enable')").click()
    card.locator(".pill.on >> text=Enabled").wait_for()
    shot(page, "routes")

    # A key, shown once.
    page.goto("/keys/")
    page.fill("#id_name", "browser-key")
    page.fill("#id_budget_usd", "5")
    page.click("button:has-text('Create key')")
    page.wait_for_selector("#new-key")
    raw_key = page.locator("#new-key").input_value()
    assert raw_key.startswith("sy-")
    shot(page, "keys")

    # The live tail shows the SDK's request as it happens.
    page.goto("/logs/")
    page.wait_for_selector(".live.connected")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=raw_key, max_retries=0)
    reply = client.chat.completions.create(
        model="browser-route", messages=[{"role": "user", "content": "hello from the browser test"}]
    )
    assert "hello from the browser test" in reply.choices[0].message.content
    live_row = page.locator("#log-rows tr", has_text="browser-route")
    live_row.wait_for(timeout=15_000)
    assert "browser-key" in live_row.inner_text()
    shot(page, "logs")

    # Its detail: bodies, timing, attempts.
    live_row.locator("a").first.click()
    page.wait_for_selector("h2:has-text('Timing')")
    assert page.locator("text=Inbound request").is_visible()
    assert "hello from the browser test" in page.locator("details.body").first.inner_text()
    assert (
        page.locator("a:has-text('Open in playground')")
        .get_attribute("href")
        .startswith("/playground/?replay=")
    )
    shot(page, "log-detail")

    page.goto("/")
    page.wait_for_selector(".stat .value")
    # the request just made is there, although the empty dashboard was seen before it
    assert "browser-route" in page.locator("#dashboard-body").inner_text()
    shot(page, "dashboard")

    # Revoke: the SDK is refused from then on.
    page.goto("/keys/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="browser-key").locator("button:has-text('Revoke')").click()
    page.locator("tr", has_text="browser-key").locator(".pill >> text=revoked").wait_for()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="browser-route", messages=[{"role": "user", "content": "again"}]
        )

    for path in ("/", "/providers/", "/routes/", "/keys/", "/logs/", "/routes/export/"):
        assert SECRET not in page.request.get(path).text()


def test_import_preview_then_apply(page) -> None:
    sign_in(page)
    page.goto("/routes/import/")
    page.fill(
        "#id_config",
        "model_list:\n  - model_name: imported-echo\n    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n      api_base: http://127.0.0.1:9/v1\n"
        # a literal key: a console upload may not send a host variable to this host (M17)
        "      api_key: sk-imported-literal\n      rpm: 60\n      tags: [beta]\n"
        "    model_info: {input_cost_per_token: 0.00000015, output_cost_per_token: 0.0000006}\n"
        "  - model_name: imported-echo\n    litellm_params:\n"
        "      model: sagemaker/anthropic.claude-3-haiku\n"
        "router_settings: {routing_strategy: least-busy}\n",
    )
    page.click("button:has-text('Preview changes')")
    table = page.locator("table.plan-table[data-section=routes]")
    table.wait_for()
    text = table.inner_text()
    assert "imported-echo" in text and "least_busy" in text and "0.15" in text
    assert "Decimal(" not in text and "Route.Strategy" not in text
    assert "provider 'sagemaker' is not supported yet" in page.locator(".plan-skipped").inner_text()
    shot(page, "import-preview")
    page.click("button:has-text('Apply these changes')")
    page.wait_for_selector("text=Imported.")
    page.goto("/routes/")
    assert page.locator("article.route", has_text="imported-echo").is_visible()


def test_dashboard_window_tabs_follow_the_selection(page) -> None:
    sign_in(page)
    tabs = page.locator("nav.tabs[aria-label='Time window']")
    assert tabs.locator("[aria-current=true]").inner_text() == "Last hour"
    with page.expect_response(lambda r: "window=24h" in r.url):
        tabs.locator("a:has-text('Last day')").click()
    page.wait_for_function(
        "document.querySelector(\"nav.tabs [aria-current=true]\")?.textContent === 'Last day'",
        timeout=5_000,
    )
    assert tabs.locator("[aria-current=true]").count() == 1
    assert "Last day" in page.locator("#dashboard-body .hint").inner_text()
    assert page.url.endswith("?window=24h")
    assert tabs.locator("a:has-text('Last week')").get_attribute("href") == "?window=7d"


def test_phone_width_menu(browser, gw: Gateway) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=gw.url)
    page = context.new_page()
    sign_in(page)
    assert not page.locator("nav.nav").is_visible()
    page.click(".nav-burger")
    page.click("nav summary:has-text('Observe')")
    assert page.locator("nav.nav >> text=Logs").is_visible()
    page.click(".nav-burger")
    shot(page, "dashboard-phone")
    context.close()


def test_not_found_page(page) -> None:
    sign_in(page)
    response = page.goto("/logs/no-such-request/")
    assert response.status == 404
    assert page.locator("h1:has-text('Nothing here')").is_visible()
    shot(page, "not-found")


def test_the_standalone_add_deployment_page_confirms_and_leads_back(page, gw: Gateway) -> None:
    route_id = (
        gw.shell(
            "from gateway.models import Route; "
            "print(Route.objects.get_or_create(name='standalone-route')[0].pk)"
        )
        .strip()
        .splitlines()[-1]
    )
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page)
    page.goto(f"/routes/{route_id}/deployments/new/")
    # The picker loads on page load and again on change (hx-sync replace); a change or a
    # submit while a load is in flight aborts it by design, which htmx logs as an error.
    # Wait for each load the way a person would, so only real faults are left to assert on.
    page.wait_for_load_state("networkidle")
    with page.expect_response(lambda r: "/deployments/models/" in r.url):
        page.select_option("select[name=provider]", label="echo")
    page.fill("input[name=model]", "standalone-model")
    page.click("button:has-text('Add deployment')")
    page.wait_for_url(re.compile(rf"/routes/#route-{route_id}$"))
    assert "Added deployment echo/standalone-model to standalone-route." in (
        page.locator(".messages .alert.ok").inner_text()
    )
    assert page.locator(f"#route-{route_id} .dep", has_text="standalone-model").is_visible()
    assert not [e for e in console_errors if "targetError" in e or "htmx" in e], console_errors
    # Only once: the confirmation is not shown again on the next page.
    page.goto("/routes/")
    assert page.locator(".messages").count() == 0


PHONE_PAGES = (
    "/",
    "/?window=7d",
    "/logs/",
    "/playground/",
    "/routes/",
    "/routes/health/",
    "/keys/",
    "/providers/",
)


def test_no_page_scrolls_sideways_at_phone_width(browser, gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.master_key, max_retries=0)
    client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "traffic for the charts " * 20}]
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=gw.url)
    page = context.new_page()
    sign_in(page)
    gw.journal_written()  # the journal writes its batch (the log pages read it)
    detail = page.request.get("/logs/").text()
    found = re.search(r'href="(/logs/[^/"?]+/)"', detail)
    pages = (*PHONE_PAGES, found.group(1)) if found else PHONE_PAGES
    wide = {}
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            culprits = page.evaluate(
                """() => Array.from(document.querySelectorAll('body *'))
                  .filter(el => el.getBoundingClientRect().right > 391)
                  .slice(0, 5).map(el => el.tagName + '.' + el.className)"""
            )
            wide[path] = (width, culprits)
    context.close()
    assert not wide, f"pages wider than the phone: {wide}"


def claude_code_sized_request(gw: Gateway) -> None:
    """About 47 KB, as Claude Code sends: a long system prompt, many tool schemas, and
    a prompt of 70 words that the echo route streams back as ~80 events."""
    tools = [
        {
            "name": f"Tool{n}",
            "description": "Does a thing. " * 40,
            "input_schema": {
                "type": "object",
                "properties": {
                    f"arg{i}": {"type": "string", "description": "x" * 60} for i in range(6)
                },
            },
        }
        for n in range(12)
    ]
    body = {
        "model": "echo",
        "max_tokens": 4096,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code. " * 1300 + "needle-in-the-system"}
        ],
        "tools": tools,
        "messages": [{"role": "user", "content": " ".join(f"word{n}" for n in range(70))}],
    }
    raw = httpx.post(
        gw.url + "/v1/messages",
        content=json.dumps(body),
        headers={"x-api-key": gw.master_key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert raw.status_code == 200 and len(json.dumps(body)) > 40_000


def test_a_large_request_detail_stays_short_and_searchable(browser, gw: Gateway) -> None:
    claude_code_sized_request(gw)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=gw.url)
    page = context.new_page()
    sign_in(page)
    gw.journal_written()  # the journal writes its batch (the log pages read it)
    page.goto("/logs/?route=echo")
    # Every column is on screen at 1440 px, Cost included: nothing scrolls sideways.
    wrap = page.locator("#log-results .table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "the log table is cut"
    cost = page.locator("table.logs th", has_text="Cost").bounding_box()
    assert cost["x"] + cost["width"] <= 1440
    page.locator("#log-rows tr", has_text="anthropic").first.locator("a").first.click()
    page.wait_for_selector("h2:has-text('Timing')")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2500, f"the detail page is {height}px tall"
    inbound = page.locator("details.body", has_text="Inbound request")
    outbound = page.locator("details.body", has_text="Outbound response")
    assert inbound.get_attribute("open") is None and outbound.get_attribute("open") is None
    assert "large, collapsed" in inbound.locator("summary").inner_text()

    outbound.locator("summary").click()
    events = outbound.locator(".events > li")
    total = events.count()
    assert total > 70
    outbound.locator(".body-search").fill("message_stop")
    page.wait_for_function(
        "document.querySelectorAll('details.body[open] .events > li:not([hidden])').length === 1"
    )
    assert outbound.locator(".body-search-count").inner_text() == f"1 of {total} events"
    assert page.evaluate("document.documentElement.scrollHeight") < 3000
    outbound.locator(".body-search").fill("")
    page.wait_for_function(
        f"document.querySelectorAll('details.body[open] .events > li:not([hidden])').length === {total}"
    )
    box = outbound.locator(".events").bounding_box()
    assert box["height"] <= 660  # the 80 events scroll inside their card

    inbound.locator("summary").click()
    inbound.locator(".body-search").fill("needle-in-the-system")
    inbound.locator("pre mark").first.wait_for()
    assert inbound.locator("pre mark").count() == 1
    assert inbound.locator(".body-search-count").inner_text() == "1 match"
    assert inbound.locator("pre mark").is_visible()
    shot(page, "log-detail-large")
    context.close()


def test_the_key_route_picker_is_a_searchable_checkbox_list(page) -> None:
    sign_in(page)
    page.goto("/keys/")
    picker = page.locator("form[action='/keys/new/'] .route-picker")
    assert picker.locator(".route-count").inner_text() == "(none: every route)"
    picker.locator(".route-filter").fill("slow")
    page.wait_for_function(
        "Array.from(document.querySelectorAll(\"form[action='/keys/new/'] .route-option\"))"
        ".filter(l => !l.hidden).map(l => l.textContent.trim()).join() === 'echo-slow'"
    )
    picker.locator(".route-filter").press("Enter")  # filtering never submits the form
    assert page.locator("#new-key").count() == 0
    picker.locator("label", has_text="echo-slow").click()
    picker.locator(".route-filter").fill("")
    picker.locator("label", has_text="echo-pair").click()
    assert picker.locator(".route-count").inner_text() == "(2 selected)"
    page.fill("form[action='/keys/new/'] #id_name", "picker-key")
    page.click("button:has-text('Create key')")
    page.wait_for_selector("#new-key")
    row = page.locator("tr", has_text="picker-key")
    assert sorted(row.locator(".pill").all_inner_texts()) == ["echo-pair", "echo-slow"]
