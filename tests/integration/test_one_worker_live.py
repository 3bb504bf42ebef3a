"""``manage.py serve --workers 1`` (what the quick start runs on one core) is the
production server path, not a different one: a uvicorn worker under the supervisor,
refusing an unauthenticated 31 MB body at once, capping the bodies Django would spool,
closing slow heads (408), escaping what it logs, and serving the WebSockets (the
Responses API's and the console's)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.integration.test_unauthenticated_bodies import BODY_BYTES, unauthenticated_post
from tests.live import MASTER_KEY, Gateway, running_gateway

HEADER_TIMEOUT = 1.0
KEEP_ALIVE = 2  # SWITCHYARD_KEEP_ALIVE_SECONDS (5 by default)
USER, PASSWORD = "ops", "pw-123456789"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {
        "SWITCHYARD_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "SWITCHYARD_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
    }
    with running_gateway(tmp_path_factory.mktemp("one"), env=env, workers=1) as gw:
        gw.shell(
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r})"
        )
        yield gw


def port_of(gw: Gateway) -> int:
    return int(gw.url.rsplit(":", 1)[1])


def test_one_worker_is_a_uvicorn_worker_under_the_supervisor(gateway: Gateway) -> None:
    pid = gateway.process.pid
    assert b"gateway.server.supervisor" in Path(f"/proc/{pid}/cmdline").read_bytes()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    commands = [Path(f"/proc/{child}/cmdline").read_bytes() for child in children]
    assert sum(b"gateway.server.worker" in command for command in commands) == 1, commands
    answer = httpx.get(gateway.url + "/health/liveliness")
    assert answer.headers["server"] == "uvicorn"


async def head_only(port: int, path: str, length: int) -> bytes:
    """Send a request head declaring ``length`` body bytes and none of them: the answer
    (its head) can only come from the headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {length}\r\n\r\n".encode()
    )
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()


async def test_an_unauthenticated_31_mb_body_is_refused_before_it_is_read(
    gateway: Gateway,
) -> None:
    head = await head_only(port_of(gateway), "/v1/messages", BODY_BYTES)
    assert head.startswith(b"HTTP/1.1 401"), head
    status, body, sent = await unauthenticated_post(port_of(gateway), "/v1/messages", "")
    assert status == 401 and sent < BODY_BYTES, (status, body, sent)


async def post_chunked_until_answered(port: int, path: str) -> tuple[bytes, int]:
    """Post up to 40 MiB to ``path`` in chunks (no Content-Length) while watching for
    the answer; returns its head and how many body bytes were sent before it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-www-form-"
        "urlencoded\r\ntransfer-encoding: chunked\r\n\r\n".encode()
    )
    answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
    piece = b"a" * (256 * 1024)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    sent = 0
    try:
        while sent < 40 * 1024**2 and not answer.done():
            writer.write(chunk)
            await writer.drain()
            sent += len(piece)
    except ConnectionError:
        pass
    head = await asyncio.wait_for(answer, 10)
    writer.close()
    return head, sent


async def test_django_paths_refuse_huge_bodies_without_spooling_them(gateway: Gateway) -> None:
    """300 MiB declared: 413 from the head alone. Chunked: 413 at the cap (1 MiB, under
    Django's 2.5 MB in-memory threshold: nothing reaches the disk), long before the
    40 MiB are through (Django would read them all, and wait for the rest)."""
    for path in ("/login/", "/api/providers/", "/admin/login/"):
        head = await head_only(port_of(gateway), path, 300 * 1024**2)
        assert head.startswith(b"HTTP/1.1 413"), (path, head)
        head, sent = await post_chunked_until_answered(port_of(gateway), path)
        assert head.startswith(b"HTTP/1.1 413"), (path, head)
        assert sent <= 16 * 1024 * 1024, (path, sent)  # what the socket buffers held


def test_a_slow_head_is_closed_after_the_header_timeout(gateway: Gateway) -> None:
    sockets = []
    for _ in range(50):  # a small slowloris: partial heads, and silent connections
        sock = socket.create_connection(("127.0.0.1", port_of(gateway)))
        sock.sendall(b"GET /health/liveliness HTTP/1.1\r\nhost: x\r\nx-a: ")
        sockets.append(sock)
    silent = socket.create_connection(("127.0.0.1", port_of(gateway)))
    started = time.monotonic()
    for sock in [*sockets, silent]:
        sock.settimeout(HEADER_TIMEOUT + 5)
        rest = b""
        while chunk := sock.recv(4096):
            rest += chunk
        sock.close()
        assert rest.startswith(b"HTTP/1.1 408") or sock is silent, rest
    assert time.monotonic() - started < HEADER_TIMEOUT + 4
    assert httpx.get(gateway.url + "/health/liveliness").status_code == 200


def test_an_idle_kept_alive_connection_closes_after_the_keep_alive_setting(
    gateway: Gateway,
) -> None:
    """``SWITCHYARD_KEEP_ALIVE_SECONDS`` reaches uvicorn: a connection stays open that
    long after its answer (a request just before is served on it), then gets a FIN."""
    with socket.create_connection(("127.0.0.1", port_of(gateway))) as sock:
        request = b"GET /health/liveliness HTTP/1.1\r\nhost: x\r\n\r\n"
        sock.settimeout(KEEP_ALIVE + 5)
        for _ in range(2):
            sock.sendall(request)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            answered = time.monotonic()
            time.sleep(KEEP_ALIVE - 1)  # past uvicorn's own 1 s and under the setting
        assert sock.recv(4096) == b""
        assert KEEP_ALIVE - 0.2 <= time.monotonic() - answered < KEEP_ALIVE + 2.5


def test_a_forged_line_in_a_websocket_path_is_logged_escaped(gateway: Gateway) -> None:
    from websockets.sync.client import connect as connect_sync

    url = gateway.url.replace("http://", "ws://") + "/ws/logs/tail/%0AFORGED-LINE"
    with (
        pytest.raises(Exception),  # noqa: B017, PT011 - refused: another origin
        connect_sync(url, additional_headers={"Origin": "http://evil.example"}),
    ):
        pass
    deadline = time.monotonic() + 5
    while "FORGED-LINE" not in gateway.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = gateway.log()
    assert "/ws/logs/tail/\\nFORGED-LINE" in log, log[-2000:]
    assert not any(line.startswith("FORGED-LINE") for line in log.splitlines())


async def test_the_responses_websocket_serves_on_one_worker(gateway: Gateway) -> None:
    url = gateway.url.replace("http://", "ws://") + "/v1/responses"
    async with connect(url, additional_headers=AUTH) as ws:
        await ws.send(json.dumps({"type": "response.create", "model": "echo", "input": "hi"}))
        events = []
        while not events or events[-1]["type"] not in ("response.completed", "error"):
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    assert events[-1]["type"] == "response.completed", events


def sign_in(gateway: Gateway) -> str:
    """The console session's Cookie header, signed in through the login form."""
    with httpx.Client(base_url=gateway.url) as client:
        form = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        done = client.post(
            "/login/",
            data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": gateway.url + "/login/", "Origin": gateway.url},
        )
        assert done.status_code == 302, done.text
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def test_the_console_live_tail_serves_on_one_worker(gateway: Gateway) -> None:
    cookie = sign_in(gateway)
    url = gateway.url.replace("http://", "ws://") + "/ws/logs/tail/?route=echo"
    headers = {"Cookie": cookie, "Origin": gateway.url}
    async with connect(url, additional_headers=headers) as ws:
        async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as client:
            sent = await client.post(
                "/v1/chat/completions",
                json={"model": "echo", "messages": [{"role": "user", "content": "tail"}]},
            )
        request_id = sent.headers["x-request-id"]
        shown = ""
        deadline = time.monotonic() + 5
        while request_id not in shown and time.monotonic() < deadline:
            shown += await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
    assert request_id in shown
