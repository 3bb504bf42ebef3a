"""Add model in one form, in headless Chromium against a real server and an
OpenAI-compatible mock upstream on 127.0.0.1 whose /v1/models lists its models: a new
provider made inline, its models offered, the catalog's figures as placeholders, the
route answering; then (390 px) errors shown together and nothing written.
Screenshots: tests/screenshots.py says where."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.console.browser_support import shot, sign_in
from tests.live import Gateway

pytestmark = pytest.mark.browser

KEY = "sk-mock-Heron-40d2"
MODELS = ["gpt-4o-mini", "house-llama-8b"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[dict[str, Any]]:
    """/v1/models lists MODELS (and wants the key); /v1/chat/completions answers."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            seen.append(f"{self.command} {self.path}")
            if self.headers.get("authorization") == f"Bearer {KEY}":
                return True
            self._send(401, {"error": {"message": "bad key", "type": "invalid_api_key"}})
            return False

        def do_GET(self) -> None:  # noqa: N802
            if self._authorized():
                data = [{"id": m, "object": "model", "owned_by": "mock"} for m in MODELS]
                self._send(200, {"object": "list", "data": data})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            if self._authorized():
                self._send(
                    200,
                    {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "hello from mock"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
                    },
                )

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/v1", "seen": seen}
    server.shutdown()


def new_page(browser, gw: Gateway, width: int, height: int):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=gw.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def options(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#add-model-options option").evaluate_all("els => els.map(e => e.value)")


def test_add_a_model_with_a_new_provider_then_errors_at_390(
    browser,
    gw: Gateway,
    upstream: dict[str, Any],
) -> None:
    context, page, errors = new_page(browser, gw, 1440, 900)
    sign_in(page)
    page.goto("/routes/")
    page.click(".page-head a.btn.primary:has-text('Add model')")
    page.wait_for_url(re.compile(r"/routes/add-model/$"))
    assert not page.locator("#new-provider").is_visible()  # an existing provider first

    page.select_option("#id_provider", "new")
    assert page.locator("#new-provider").is_visible()
    page.fill("#id_new-name", "mock")
    page.select_option("#id_new-kind", "openai")
    page.fill("#id_new-base_url", upstream["url"])
    page.fill("#id_new-secret", KEY)
    page.locator("#id_new-secret").dispatch_event("change")
    page.wait_for_function(
        "() => document.querySelector('#add-model-list').textContent.includes('2 models listed')"
    )
    assert options(page)[:2] == MODELS  # the upstream's own list first, then the catalog's
    assert "GET /v1/models" in upstream["seen"]

    page.fill("#id_model", "gpt-4o-mini")
    page.locator("#id_model").dispatch_event("change")
    page.wait_for_function(
        "() => document.querySelector('#id_route_name').placeholder === 'gpt-4o-mini'"
    )
    assert page.locator("#id_input_price").get_attribute("placeholder") == "0.15"
    assert page.locator("#id_context_window").get_attribute("placeholder") == "128000"
    shot(page, "add-model-1440")

    page.click("button:has-text('Add model')")
    page.wait_for_url(re.compile(r"/routes/\?added=\d+#route-\d+$"))
    card = page.locator("article.route", has_text="gpt-4o-mini")
    assert "mock/" in card.inner_text() and KEY not in page.content()
    # the banner is in the new route's card, in view where the page opened (#66: it was
    # above the fold, at the top of a page scrolled down to the route)
    banner = card.locator(".alert.ok")
    assert "Added route gpt-4o-mini" in banner.inner_text()
    assert banner.evaluate("e => e.getBoundingClientRect().top >= 0")

    # the route answers through the new provider
    reply = httpx.post(
        f"{gw.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {gw.master_key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "hello from mock"
    context.close()
    assert not errors, f"JavaScript errors: {errors}"

    # a phone: the existing provider's list, then errors together and nothing written
    context, page, errors = new_page(browser, gw, 390, 844)
    sign_in(page)
    page.goto("/routes/add-model/")
    page.select_option("#id_provider", label="mock (openai)")
    page.wait_for_function(
        "() => document.querySelector('#add-model-list').textContent.includes('2 models listed')"
    )
    routes_before = page.request.get("/routes/").text().count('class="card route')
    page.fill("#id_model", "house-llama-8b")
    page.fill("#id_route_name", "gpt-4o-mini")  # taken
    page.fill("#id_output_price", "-2")
    page.click("button:has-text('Add model')")
    page.wait_for_selector("#add-model-form .field.has-error")
    shown = page.locator("#add-model-form .field.has-error")
    assert shown.count() == 1 and "Output" in shown.inner_text()
    page.fill("#id_output_price", "2")
    page.click("button:has-text('Add model')")
    page.wait_for_selector(".field.has-error:has(#id_route_name)")
    assert "already exists" in page.locator(".field.has-error:has(#id_route_name)").inner_text()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at 390 px ({width} px)"
    shot(page, "add-model-390-errors")
    assert page.request.get("/routes/").text().count('class="card route') == routes_before
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
