"""The console's live features under the recommended production command,
``manage.py serve --workers 2`` (uvicorn worker processes, in-memory channel layer):
the live tail shows the requests every worker served, and the playground's WebSocket
runs a two-column comparison end to end, and an experiment's progress socket follows
the run whichever worker runs it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.live import MASTER_KEY, Gateway, running_gateway

USER, PASSWORD = "ops", "pw-123456789"
REQUESTS = 20


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("workers"), workers=2) as gateway:
        gateway.shell(
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r})"
        )
        yield gateway


def sign_in(gw: Gateway) -> str:
    """The console session's Cookie header, signed in through the login form."""
    with httpx.Client(base_url=gw.url) as client:
        form = client.get("/login/")
        assert form.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        done = client.post(
            "/login/",
            data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": gw.url + "/login/", "Origin": gw.url},
        )
        assert done.status_code == 302, done.text
        assert client.get("/logs/").status_code == 200  # the session holds on every worker
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def ws_url(gw: Gateway, path: str) -> str:
    return gw.url.replace("http://", "ws://") + path


async def chat(client: httpx.AsyncClient, n: int) -> str:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": f"tail {n}"}]},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"]


async def test_the_tail_shows_the_requests_of_every_worker(gw: Gateway) -> None:
    cookie = sign_in(gw)
    headers = {"Cookie": cookie, "Origin": gw.url}
    async with connect(ws_url(gw, "/ws/logs/tail/?route=echo"), additional_headers=headers) as ws:
        # A fresh connection per request, sent together: the kernel hands them to both
        # worker processes, and only one of them holds this socket.
        async with httpx.AsyncClient(
            base_url=gw.url,
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=10,
        ) as client:
            sent = set(await asyncio.gather(*(chat(client, n) for n in range(REQUESTS))))
        assert len(sent) == REQUESTS
        shown: set[str] = set()
        deadline = time.monotonic() + 5
        while not sent <= shown and time.monotonic() < deadline:
            try:
                html = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            shown |= set(re.findall(r'title="([^"]+)"', html))
        assert sent - shown == set(), f"{len(sent - shown)} of {REQUESTS} never reached the tail"


async def test_the_playground_runs_a_comparison_end_to_end(gw: Gateway) -> None:
    cookie = sign_in(gw)
    headers = {"Cookie": cookie, "Origin": gw.url}
    spec = {
        "system": "",
        "messages": [{"role": "user", "content": "hello from two workers"}],
        "params": {"max_tokens": 50},
        "columns": [
            {"route": "echo", "dialect": "anthropic", "params": {}},
            {"route": "echo-slow", "dialect": "openai", "params": {}},
        ],
    }
    async with connect(ws_url(gw, "/ws/playground/"), additional_headers=headers) as ws:
        await ws.send(json.dumps({"action": "run", "spec": spec}))
        messages = []
        while not messages or messages[-1]["type"] not in ("turn_done", "error"):
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    done = [m for m in messages if m["type"] == "column_done"]
    assert messages[0]["type"] == "comparison", messages
    assert sorted(m["index"] for m in done) == [0, 1], messages
    for column in done:
        assert column["state"] == "done" and column["text"] == "Echo: hello from two workers"
    assert messages[-1]["type"] == "turn_done"


async def test_experiment_progress_reaches_sockets_on_every_worker(gw: Gateway) -> None:
    async with httpx.AsyncClient(
        base_url=gw.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    ) as api:
        rows = [{"prompt": f"how are you {i}"} for i in range(12)]
        dataset = await api.post("/api/datasets/", json={"name": "workers", "rows": rows})
        assert dataset.status_code == 201, dataset.text
        started = await api.post(
            "/api/experiments/",
            json={"dataset": dataset.json()["id"], "columns": ["echo-slow", "echo"], "concurrency": 1},
        )  # fmt: skip
        assert started.status_code == 201, started.text
    pk = started.json()["id"]
    headers = {"Cookie": sign_in(gw), "Origin": gw.url}

    async def watch() -> list[dict]:
        # one runner (in one worker) runs it; four sockets spread over both workers
        frames: list[dict] = []
        url = ws_url(gw, f"/ws/evals/experiments/{pk}/")
        async with connect(url, additional_headers=headers) as ws:
            async for raw in ws:  # the consumer closes the socket once it is finished
                frames.append(json.loads(raw))
        return frames

    watched = await asyncio.wait_for(asyncio.gather(*(watch() for _ in range(4))), 60)
    for frames in watched:
        assert frames[-1]["finished"] and frames[-1]["done"] == frames[-1]["total"] == 24
        assert frames[-1]["status"] == "done"
    assert any(0 < f["percent"] < 100 for frames in watched for f in frames)  # it moved


async def test_the_websockets_refuse_anonymous_visitors(gw: Gateway) -> None:
    for path in ("/ws/logs/tail/", "/ws/playground/", "/ws/evals/experiments/1/"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(gw, path), additional_headers={"Origin": gw.url}):
                pass
        assert refused.value.response.status_code == 403


def test_pages_static_files_and_forms_work_on_every_worker(gw: Gateway) -> None:
    cookie = sign_in(gw)
    # No keep-alive: each request may land on either worker.
    with httpx.Client(
        base_url=gw.url,
        headers={"Cookie": cookie},
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        for _ in range(3):
            for page in ("/", "/logs/", "/playground/", "/routes/", "/keys/"):
                assert client.get(page).status_code == 200, page
        html = client.get("/logs/").text
        assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
        assert len(assets) >= 3
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200 and response.content, asset
        # A console form post: the CSRF token from one worker is accepted by the other.
        form = client.get("/keys/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        post = {"headers": {"Origin": gw.url, "Referer": gw.url + "/"}}
        assert client.post("/logout/", **post).status_code == 403  # no token
        done = client.post("/logout/", data={"csrfmiddlewaretoken": token}, **post)
        assert done.status_code == 302
        assert client.get("/logs/").status_code == 302  # signed out on every worker
    log = gw.log()
    assert "Traceback" not in log and "Warning" not in log, log
