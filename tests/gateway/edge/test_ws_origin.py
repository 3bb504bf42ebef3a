"""The console's WebSockets accept only same-origin pages (scheme, host and port equal
to the request's, or listed in CSRF_TRUSTED_ORIGINS), whatever ALLOWED_HOSTS is: a page
on another origin (the same host on another port included: cookies ignore ports) in a
signed-in admin's browser must not drive the playground or read the live tail."""

from __future__ import annotations

import asyncio
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.edge.ws_origin import SameOriginWebSockets
from tests.gateway.web.test_origins import handshake
from tests.live import Gateway, free_port, running_gateway

USER, PASSWORD = "ops", "pw-123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def test_a_refused_handshake_never_reaches_the_consumer(settings) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    reached: list[dict] = []

    async def inner(scope, receive, send) -> None:
        reached.append(scope)

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    app = SameOriginWebSockets(inner)
    await app(handshake("http://gw.example:4001"), receive, send)
    assert reached == [] and sent == [{"type": "websocket.close", "code": 4403}]
    await app(handshake("http://gw.example:4000"), receive, send)
    assert len(reached) == 1


# --- against a real server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"ALLOWED_HOSTS": "127.0.0.1,localhost"}  # an explicit list: the port still counts
    with running_gateway(tmp_path_factory.mktemp("origin"), env=env) as gateway:
        gateway.shell(
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r})"
        )
        yield gateway


def session_cookie(gw: Gateway) -> str:
    with httpx.Client(base_url=gw.url) as client:
        form = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        done = client.post(
            "/login/",
            data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": gw.url + "/login/", "Origin": gw.url},
        )
        assert done.status_code == 302, done.text
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


EXPERIMENT = (
    "from console.evals.models import Dataset, Experiment; "
    "d, _ = Dataset.objects.get_or_create(name='d'); "
    "Experiment.objects.get_or_create(pk=1, defaults=dict(name='e', dataset=d, "
    "dataset_version=1, columns=[{'route': 'x'}], status='done'))"
)


@pytest.mark.parametrize("path", ["/ws/logs/tail/", "/ws/playground/", "/ws/evals/experiments/1/"])
async def test_a_foreign_origin_with_the_admins_cookie_is_refused(gw: Gateway, path) -> None:
    if "evals" in path:
        gw.shell(EXPERIMENT)
    cookie = session_cookie(gw)
    url = gw.url.replace("http://", "ws://") + path
    port = int(gw.url.rsplit(":", 1)[1])
    for origin in (f"http://127.0.0.1:{port + 1}", "http://evil.example", None):
        headers = {"Cookie": cookie} | ({"Origin": origin} if origin else {})
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers, origin=None):
                pass
        assert refused.value.response.status_code == 403
    # the console's own origin still works, and the consumer answers
    async with connect(url, additional_headers={"Cookie": cookie, "Origin": gw.url}) as ws:
        if path == "/ws/playground/":
            await ws.send('{"action": "run", "spec": {}}')
            assert "message" in await asyncio.wait_for(ws.recv(), 5)
        elif "evals" in path:
            assert '"finished": true' in await asyncio.wait_for(ws.recv(), 5)
        else:
            await ws.ping()


FOREIGN_PAGE = """<!doctype html><title>elsewhere</title><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket(%r);
  ws.onopen = () => { resolve("open"); ws.close(); };
  ws.onclose = () => resolve("closed");
});
</script>"""


@pytest.fixture
def foreign_site(gw: Gateway, tmp_path: Path) -> Iterator[str]:
    """A page on the same host, another port, that tries the console's live tail."""
    ws_url = gw.url.replace("http://", "ws://") + "/ws/logs/tail/"
    (tmp_path / "index.html").write_text(FOREIGN_PAGE % ws_url)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.mark.browser
def test_a_page_on_another_port_cannot_open_the_tail_in_the_admins_browser(
    gw: Gateway, foreign_site: str
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(10_000)
            page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
            page.goto(gw.url + "/login/")
            page.fill("#id_username", USER)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/$"))
            page.goto(foreign_site)
            assert page.evaluate("window.result") == "closed"
            # the same script on the console's own origin opens the socket
            page.goto(gw.url + "/")
            ws_url = gw.url.replace("http://", "ws://") + "/ws/logs/tail/"
            script = FOREIGN_PAGE.split("<script>")[1].split("</script>")[0] % ws_url
            page.evaluate(script)
            assert page.evaluate("window.result") == "open"
        finally:
            browser.close()
