"""The budget torture benchmark (issue #65): do budgets hold under bursts, across two
instances of ``serve --workers 2`` sharing PostgreSQL and Redis, on every endpoint that
spends, for every kind of budget?

Each cell is one endpoint type x one budget kind x one concurrency. It gets a subject of
its own (a key; a team, a user, a tag or an end user with the budget), a budget of five
requests' ceilings, a burst three times larger (or the concurrency, if more) fired at
that concurrency over both instances on fresh connections (so over all four workers),
then requests one at a time until one is refused. Then it reads the journal (PostgreSQL)
and judges:

- **overrun**: the spend in the journal past the documented bound (docs/production.md:
  the budget, plus what requests cost beyond their holds). Every request here has a
  known ceiling (its max tokens at the route's prices, the declared ``max_output_tokens``
  when it names none, an agent's per-call price) and the mock upstream answers with
  exactly that many tokens, so the bound is the budget itself unless a request cost more
  than its ceiling, which would itself be a defect (a ceiling held but not sent);
- **false refusal**: a budget refusal while the budget provably had room: in the burst,
  when everything served in it plus the refused request's ceiling fits the budget (what
  was spent and held at any moment is at most the ceilings of the requests served); one
  at a time, when the journal's spend plus the ceiling fits the budget;
- **other failures**: any answer but a success or a budget refusal.

Endpoint types: chat (plain, streamed, and without ``max_tokens`` so the deployment's
declared ceiling is the hold and must be sent upstream), Responses over HTTP and over
WebSocket, a gateway-run batch per instance (each line through the request path; the
instances share an S3 file store, moto's server on 127.0.0.1, as several instances
must), A2A ``SendMessage`` to an agent with a per-call price, and MCP ``tools/call`` on
``/mcp`` (the 2026-07-28 era, sessionless) to a registered streamable-HTTP server (the
tests' SDK server on 127.0.0.1, its ``sleep`` tool) with a per-call price, and realtime
sessions (``run_realtime_cell``: a session holds only
``SWITCHYARD_BUDGET_RESERVATION_USD`` and is charged response by response, so its
documented bound is the budget plus one response per session open when the budget is
reached, and its cells are judged against that). Not here: session budgets other than
A2A's. Budget kinds that an endpoint does not count are marked ``n/a``: A2A and
realtime have no end user; a budget per session is an A2A agent's
(``session_budget_usd``, per key and ``contextId``): its cells send every message of
the cell in one context to a second agent whose session budget is the cell's budget
(the key has none). MCP's end-user cells name the end user in ``x-switchyard-user``
(MCP has no field for it), as the chat cells name theirs in the body's ``user``.

    .venv/bin/python bench/budget_torture.py           # c = 8 and 32 (~5 minutes)
    .venv/bin/python bench/budget_torture.py --quick   # c = 8 (~2 minutes)
    .venv/bin/python bench/budget_torture.py --quick --only chat:key

The table goes to the terminal and ``bench/results/budget_torture.md``, the cells to
``bench/results/budget_torture.json``. Exit status 1 when any cell fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUTPUT_PRICE = Decimal(1000)  # USD per 1M output tokens; input is free
MAX_TOKENS = 100  # every request's ceiling: 100 tokens, $0.10
CEILING = MAX_TOKENS * OUTPUT_PRICE / 1_000_000
A2A_PRICE = CEILING  # the agent's per-call price
MCP_PRICE = CEILING  # the MCP server's per-call price
BUDGET_CEILINGS = 5  # a budget of five requests' ceilings
UNASKED_TOKENS = 1000  # what the mock answers when no max tokens is sent
UPSTREAM_DELAY = 0.15  # seconds before the mock answers: a burst is in flight at once
SECRET = "two-instances-share-this-secret-key-torture-0123"

ENDPOINTS = (
    "chat",
    "chat_stream",
    "chat_default",
    "responses",
    "responses_ws",
    "batch",
    "a2a",
    "mcp",
    "realtime",
)
KINDS = ("key", "team", "user", "tag", "end_user", "session")
# A2A messages and realtime sessions carry no end user
NOT_COUNTED = {("a2a", "end_user"), ("realtime", "end_user")}
# a budget per session is an A2A agent's (``session_budget_usd``: per key and context id)
NOT_COUNTED |= {(e, "session") for e in ENDPOINTS if e != "a2a"}
MCP_MODERN = "2026-07-28"
# A realtime response of the mock (``tests/integration/mock_realtime.USAGE``) at the
# catalog's gpt-realtime prices per 1M: text 4 (cached 0.40) / 16 out, audio 32 (cached
# 0.40) / 64 out: $0.0458
RT_RESPONSE = (
    68 * 4 + 32 * Decimal("0.4") + 968 * 32 + 32 * Decimal("0.4") + 50 * 16 + 200 * 64
) / Decimal(10**6)
RT_HOLD = Decimal("0.01")  # SWITCHYARD_BUDGET_RESERVATION_USD: what a session holds
RT_MOST_RESPONSES = 20  # a session asks for at most this many (it is cut well before)
RT_DELAY = 0.02  # seconds before each of a response's deltas: responses overlap


# -- the mock upstream -------------------------------------------------------------


def _words(messages: Any) -> int:
    text = json.dumps(messages) if not isinstance(messages, str) else messages
    return max(1, len(text.split()))


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self.requests_seen.append({"path": self.path, "max_tokens": body.get("max_tokens")})
        if not self.path.endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "chat completions only"}}', "application/json")
            return
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        completion = int(asked) if asked else UNASKED_TOKENS
        usage = {
            "prompt_tokens": _words(body.get("messages")),
            "completion_tokens": completion,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + completion
        time.sleep(UPSTREAM_DELAY)
        base = {"id": "chatcmpl-t", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "ok " * 3}
            answer = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "length"}],
                "usage": usage,
            }
            self._send(200, json.dumps(answer).encode(), "application/json")
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
            {**chunk, "choices": [], "usage": usage},
        ]
        data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        self._send(200, data + b"data: [DONE]\n\n", "text/event-stream")

    def _send(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def mock_upstream() -> Iterator[str]:
    """An OpenAI-compatible chat upstream on 127.0.0.1 that reports usage: as many
    completion tokens as the request's max tokens (the worst an honest upstream does),
    ``UNASKED_TOKENS`` when it names none."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def a2a_agent() -> Iterator[str]:
    """The tests' ``a2a-sdk`` echo agent, reporting no cost of its own (the per-call
    price is then the whole cost of a call)."""
    from tests.live import free_port

    script = ROOT / "tests" / "gateway" / "features" / "a2a" / "agents_server.py"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), "echo", str(port), "--cost", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/echo/.well-known/agent-card.json", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the A2A echo agent did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/echo"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def mcp_server() -> Iterator[str]:
    """The tests' MCP server (the official SDK) over streamable HTTP on 127.0.0.1: its
    ``sleep`` tool answers after the seconds asked."""
    import socket

    from tests.live import free_port

    script = ROOT / "tests" / "gateway" / "features" / "mcp" / "mcp_test_server.py"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the MCP server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the cells ---------------------------------------------------------------------


@dataclass
class Cell:
    endpoint: str
    kind: str
    concurrency: int
    key: str = ""
    key_name: str = ""
    tag: str = ""
    end_user: str = ""
    context: str = ""  # an A2A session's contextId (the session kind)
    budget: Decimal = CEILING * BUDGET_CEILINGS
    # results
    sent: int = 0
    burst_served: int = 0
    burst_refused: int = 0
    served: int = 0
    spend: Decimal = Decimal(0)
    bound: Decimal = Decimal(0)
    overrun: Decimal = Decimal(0)
    false_refusals: int = 0
    others: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.endpoint}:{self.kind}:c{self.concurrency}"

    @property
    def ok(self) -> bool:
        return self.overrun <= 0 and self.false_refusals == 0 and not self.others


def setup_code(
    cells: list[Cell], upstream: str, agent: str, mcp: str = "", realtime: str = ""
) -> str:
    """Django shell code making the route, the agent, the MCP server, the realtime route
    and each cell's subject, in one transaction (one commit for all the rows: quick on
    a loaded machine)."""
    body = _setup_body(cells, upstream, agent, mcp, realtime)
    indented = "".join(f"    {line}\n" for line in body.strip().splitlines())
    return f"from django.db import transaction\nwith transaction.atomic():\n{indented}"


def _setup_body(cells: list[Cell], upstream: str, agent: str, mcp: str, realtime: str) -> str:
    made = [
        {
            "key": c.key,
            "name": c.key_name,
            "kind": c.kind,
            "tag": c.tag,
            "budget": str(c.budget),
        }
        for c in cells
    ]
    session_budget = str(CEILING * BUDGET_CEILINGS)
    return f"""
from django.contrib.auth.models import User
from gateway.features.a2a import save
from gateway.models import (
    ApiKey, Deployment, McpServer, Profile, Provider, Route, TagBudget, Team,
)
p = Provider(name="torture-upstream", kind="openai", base_url="{upstream}/v1")
p.set_secret("sk-upstream")
p.save()
r = Route.objects.create(name="torture")
Deployment.objects.create(route=r, provider=p, model="mock-model", input_price=0,
    output_price={OUTPUT_PRICE}, max_output_tokens={MAX_TOKENS}, context_window=100000)
if "{agent}":
    save.save_agent(None, {{"name": "torture-agent", "url": "{agent}", "price_usd": "{A2A_PRICE}"}})
    save.save_agent(None, {{"name": "torture-agent-session", "url": "{agent}",
                            "price_usd": "{A2A_PRICE}", "session_budget_usd": "{session_budget}"}})
if "{mcp}":
    McpServer.objects.create(name="torture-mcp", url="{mcp}", price_usd="{MCP_PRICE}")
if "{realtime}":
    rt = Provider(name="torture-realtime", kind="openai", base_url="{realtime}/v1")
    rt.set_secret("sk-upstream-realtime")
    rt.save()
    rr = Route.objects.create(name="torture-rt")
    Deployment.objects.create(route=rr, provider=rt, model="gpt-realtime")
for c in {made!r}:
    fields = dict(name=c["name"], prefix=c["key"][:10], key_hash=ApiKey.hash_key(c["key"]),
                  budget_period="total", a2a_allowed=["*"], mcp_allowed=["*"])
    if c["kind"] == "key":
        fields["budget_usd"] = c["budget"]
    elif c["kind"] == "team":
        fields["team"] = Team.objects.create(name=c["name"], budget_usd=c["budget"],
                                             budget_period="total")
    elif c["kind"] == "user":
        user = User.objects.create_user(c["name"])
        Profile.objects.create(user=user, budget_usd=c["budget"], budget_period="total")
        fields["user"] = user
    elif c["kind"] == "tag":
        TagBudget.objects.create(name=c["tag"], budget_usd=c["budget"], budget_period="total")
    elif c["kind"] == "end_user":
        fields["max_budget_per_user"] = c["budget"]
    ApiKey.objects.create(**fields)
print("made", len({made!r}))
"""


def chat_body(cell: Cell, stream: bool = False, ceiling: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "torture",
        "messages": [{"role": "user", "content": "count to a hundred"}],
    }
    if ceiling:
        body["max_tokens"] = MAX_TOKENS
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if cell.end_user:
        body["user"] = cell.end_user
    return body


def batch_line(cell: Cell, n: int) -> dict[str, Any]:
    """One line of a batch: the chat request, its tag in its body's metadata (a batch
    line has no headers of its own)."""
    body = chat_body(cell)
    if cell.tag:
        body["metadata"] = {"tags": [cell.tag]}
    return {"custom_id": f"line-{n}", "method": "POST", "url": "/v1/chat/completions",
            "body": body}  # fmt: skip


def responses_body(cell: Cell) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "torture",
        "input": "count to a hundred",
        "max_output_tokens": MAX_TOKENS,
        "store": False,
    }
    if cell.end_user:
        body["user"] = cell.end_user
    return body


def headers_of(cell: Cell) -> dict[str, str]:
    headers = {"authorization": f"Bearer {cell.key}"}
    if cell.tag:
        headers["x-switchyard-tags"] = cell.tag
    return headers


@dataclass
class Answer:
    ok: bool
    budget_refused: bool = False
    other: str = ""


def _judge_http(reply: httpx.Response) -> Answer:
    if reply.status_code == 200:
        return Answer(ok=True)
    try:
        body = reply.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if reply.status_code == 429 and code == "budget_exceeded":
        return Answer(ok=False, budget_refused=True)
    return Answer(ok=False, other=f"{reply.status_code} {reply.text[:200]}")


async def _stream(client: httpx.AsyncClient, url: str, cell: Cell, body: dict[str, Any]) -> Answer:
    async with client.stream("POST", url, json=body, headers=headers_of(cell)) as reply:
        if reply.status_code != 200:
            await reply.aread()
            return _judge_http(reply)
        text = "".join([part async for part in reply.aiter_text()])
    if "[DONE]" not in text or '"usage"' not in text:
        return Answer(ok=False, other=f"stream without usage or [DONE]: {text[-200:]}")
    return Answer(ok=True)


async def _responses_ws(base: str, cell: Cell) -> Answer:
    import websockets

    url = base.replace("http://", "ws://") + "/v1/responses"
    async with websockets.connect(url, additional_headers=headers_of(cell)) as socket:
        await socket.send(json.dumps({"type": "response.create", **responses_body(cell)}))
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), 60))
            # an answer cut at max_output_tokens ends "incomplete" (as this mock's all do)
            if event.get("type") in ("response.completed", "response.incomplete"):
                return Answer(ok=True)
            if event.get("type") in ("error", "response.failed"):
                error = event.get("error") or (event.get("response") or {}).get("error") or {}
                if error.get("code") == "budget_exceeded":
                    return Answer(ok=False, budget_refused=True)
                return Answer(ok=False, other=f"ws {json.dumps(event)[:200]}")


def _a2a_body(text: str, context: str = "") -> dict[str, Any]:
    message = {
        "role": "ROLE_USER",
        "parts": [{"text": text}],
        "messageId": uuid.uuid4().hex,
    }
    if context:
        message["contextId"] = context
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}


async def _a2a(client: httpx.AsyncClient, base: str, cell: Cell) -> Answer:
    headers = {**headers_of(cell), "A2A-Version": "1.0"}
    agent = "torture-agent-session" if cell.kind == "session" else "torture-agent"
    body = _a2a_body("hi", cell.context)
    reply = await client.post(f"{base}/a2a/{agent}", json=body, headers=headers)
    if reply.status_code != 200:
        text = reply.text
        if reply.status_code == 429 and "budget" in text.lower():
            return Answer(ok=False, budget_refused=True)
        return Answer(ok=False, other=f"{reply.status_code} {text[:200]}")
    body = reply.json()
    if "error" in body:
        message = str(body["error"].get("message", ""))
        if "budget" in message.lower():
            return Answer(ok=False, budget_refused=True)
        return Answer(ok=False, other=f"a2a {json.dumps(body['error'])[:200]}")
    return Answer(ok=True)


async def _mcp(client: httpx.AsyncClient, base: str, cell: Cell) -> Answer:
    """A sessionless (2026-07-28) ``tools/call`` of the priced server's ``sleep`` tool;
    a budget refusal is JSON-RPC -32029 naming the budget."""
    tool = "torture-mcp__sleep"
    meta = {
        "io.modelcontextprotocol/protocolVersion": MCP_MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "torture", "version": "1"},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"seconds": UPSTREAM_DELAY}, "_meta": meta},
    }
    headers = {
        **headers_of(cell),
        **({"x-switchyard-user": cell.end_user} if cell.end_user else {}),
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MCP_MODERN,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }
    reply = await client.post(base + "/mcp", json=body, headers=headers)
    text = reply.text
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        datas = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = next((d for d in reversed(datas) if '"id"' in d), "")
    try:
        answer = json.loads(text)
    except ValueError:
        return Answer(ok=False, other=f"mcp {reply.status_code} {reply.text[:200]}")
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        if error.get("code") == -32029 and "budget" in str(error.get("message", "")).lower():
            return Answer(ok=False, budget_refused=True)
        return Answer(ok=False, other=f"mcp {json.dumps(error)[:200]}")
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict) or result.get("isError"):
        return Answer(ok=False, other=f"mcp {json.dumps(answer)[:200]}")
    return Answer(ok=True)


async def one_request(client: httpx.AsyncClient, base: str, cell: Cell) -> Answer:
    try:
        if cell.endpoint == "chat":
            url, body = base + "/v1/chat/completions", chat_body(cell)
            return _judge_http(await client.post(url, json=body, headers=headers_of(cell)))
        if cell.endpoint == "chat_default":
            url, body = base + "/v1/chat/completions", chat_body(cell, ceiling=False)
            return _judge_http(await client.post(url, json=body, headers=headers_of(cell)))
        if cell.endpoint == "chat_stream":
            return await _stream(
                client, base + "/v1/chat/completions", cell, chat_body(cell, stream=True)
            )
        if cell.endpoint == "responses":
            url, body = base + "/v1/responses", responses_body(cell)
            return _judge_http(await client.post(url, json=body, headers=headers_of(cell)))
        if cell.endpoint == "responses_ws":
            return await _responses_ws(base, cell)
        if cell.endpoint == "a2a":
            return await _a2a(client, base, cell)
        if cell.endpoint == "mcp":
            return await _mcp(client, base, cell)
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        return Answer(ok=False, other=f"{type(exc).__name__}: {exc}")
    raise ValueError(cell.endpoint)


async def burst(bases: list[str], cell: Cell, count: int) -> list[Answer]:
    """``count`` requests, at most ``cell.concurrency`` at once, alternating instances,
    each on a fresh connection (the kernel spreads them over an instance's workers)."""
    gate = asyncio.Semaphore(cell.concurrency)
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(n: int) -> Answer:
            async with gate:
                return await one_request(client, bases[n % len(bases)], cell)

        return await asyncio.gather(*(one(n) for n in range(count)))


async def one_at_a_time(bases: list[str], cell: Cell, most: int) -> list[Answer]:
    """Requests one at a time, alternating instances, until one is refused."""
    answers: list[Answer] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(most):
            answer = await one_request(client, bases[n % len(bases)], cell)
            answers.append(answer)
            if not answer.ok:
                break
            await asyncio.sleep(0.2)  # the cost settles just after the answer
    return answers


def journal(database_url: str, key_name: str) -> list[tuple[int, Decimal]]:
    import psycopg

    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT status, cost_usd FROM gateway_requestlog WHERE key_name = %s",
            (key_name,),
        ).fetchall()
    return [(int(status), Decimal(cost or 0)) for status, cost in rows]


def settled_journal(database_url: str, cell: Cell, served: int) -> list[tuple[int, Decimal]]:
    """The cell's journal rows once every served request's row is written (the journal
    writes in batches, off the request path)."""
    deadline = time.monotonic() + 20
    while True:
        rows = journal(database_url, cell.key_name)
        if sum(1 for status, _ in rows if status == 200) >= served:
            return rows
        if time.monotonic() > deadline:
            cell.others.append(f"journal has {len(rows)} rows, {served} served")
            return rows
        time.sleep(0.25)


def run_batches(bases: list[str], cell: Cell, count: int) -> tuple[int, int, list[str]]:
    """``count`` lines in one batch per instance, run by the gateway's batch runners
    (every line through the request path, holding as a request does), to their end:
    (lines succeeded, lines refused for the budget, other failures)."""
    headers = {"authorization": f"Bearer {cell.key}"}
    ids, others, refused = [], [], 0
    with httpx.Client(timeout=60, headers=headers) as client:
        for n, base in enumerate(bases):
            lines = [batch_line(cell, i) for i in range(n, count, len(bases))]
            data = "\n".join(json.dumps(line) for line in lines).encode()
            upload = client.post(
                base + "/v1/files",
                files={"file": ("lines.jsonl", data, "application/jsonl")},
                data={"purpose": "batch"},
            )
            if upload.status_code != 200:
                return 0, 0, [f"file upload {upload.status_code} {upload.text[:200]}"]
            made = client.post(
                base + "/v1/batches",
                json={
                    "input_file_id": upload.json()["id"],
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                },
            )
            if _judge_http(made).budget_refused:  # the lines of the first spent it all
                refused += len(lines)
                continue
            if made.status_code != 200:
                return 0, 0, [f"batch {made.status_code} {made.text[:200]}"]
            ids.append((base, made.json()["id"]))
        succeeded = 0
        for base, batch_id in ids:
            deadline = time.monotonic() + 120
            while True:
                reply = client.get(f"{base}/v1/batches/{batch_id}")
                batch = reply.json()
                if reply.status_code != 200:
                    others.append(f"batch {batch_id}: {reply.status_code} {reply.text[:200]}")
                    break
                if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                    break
                if time.monotonic() > deadline:
                    others.append(f"batch {batch_id} still {batch['status']}")
                    break
                time.sleep(0.5)
            if batch.get("error_file_id"):
                errors = client.get(f"{base}/v1/files/{batch['error_file_id']}/content")
                for line in errors.text.splitlines():
                    error = json.loads(line).get("response") or {}
                    body = error.get("body") or {}
                    code = (body.get("error") or {}).get("code")
                    if error.get("status_code") == 429 and code == "budget_exceeded":
                        refused += 1
                    else:
                        others.append(f"batch line {line[:200]}")
            succeeded += (batch.get("request_counts") or {}).get("completed", 0)
    return succeeded, refused, others


def run_batch_cell(bases: list[str], database_url: str, cell: Cell) -> None:
    started = time.monotonic()
    count = max(3 * BUDGET_CEILINGS, cell.concurrency)
    succeeded, refused, others = run_batches(bases, cell, count)
    cell.sent, cell.served, cell.burst_served, cell.burst_refused = count, succeeded, 0, refused
    cell.others += others
    judge(database_url, cell)
    # every line has ended: a budget refusal with room left for one more was false
    if refused and cell.spend + CEILING <= cell.budget:
        cell.false_refusals += refused
    cell.seconds = round(time.monotonic() - started, 1)


def judge(database_url: str, cell: Cell) -> None:
    """The spend from the journal against the budget and the documented bound."""
    rows = settled_journal(database_url, cell, cell.served)
    costs = [cost for status, cost in rows if status == 200]
    cell.spend = sum(costs, Decimal(0))
    # the documented bound: the budget plus what requests cost beyond their holds
    cell.bound = cell.budget + sum((max(Decimal(0), c - CEILING) for c in costs), Decimal(0))
    cell.overrun = max(Decimal(0), cell.spend - cell.budget)
    if any(c > CEILING for c in costs):
        cell.others.append(f"a request cost more than its ceiling: {max(costs)} > {CEILING}")


def run_cell(bases: list[str], database_url: str, cell: Cell) -> None:
    if cell.endpoint == "batch":
        run_batch_cell(bases, database_url, cell)
        return
    if cell.endpoint == "realtime":
        run_realtime_cell(bases, database_url, cell)
        return
    started = time.monotonic()
    count = max(3 * BUDGET_CEILINGS, cell.concurrency)
    answers = asyncio.run(burst(bases, cell, count))
    time.sleep(0.3)
    follow = asyncio.run(one_at_a_time(bases, cell, BUDGET_CEILINGS + 3))
    cell.sent = len(answers) + len(follow)
    cell.burst_served = sum(a.ok for a in answers)
    cell.burst_refused = sum(a.budget_refused for a in answers)
    cell.served = cell.burst_served + sum(a.ok for a in follow)
    cell.others += [a.other for a in answers + follow if a.other]
    judge(database_url, cell)
    # burst refusals are false when the budget had room for all it served and them
    if cell.burst_refused and (cell.burst_served + 1) * CEILING <= cell.budget:
        cell.false_refusals += cell.burst_refused
    # the refusal one at a time is false when the spend left room for the request
    if follow and follow[-1].budget_refused and cell.spend + CEILING <= cell.budget:
        cell.false_refusals += 1
    if follow and follow[-1].ok:
        cell.others.append(f"never refused: {len(follow)} more served one at a time")
    cell.seconds = round(time.monotonic() - started, 1)


# -- the instances -----------------------------------------------------------------


@contextlib.contextmanager
def services(workdir: Path) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database and a claimed Redis database (scripts/services.sh's
    services, started when down, as the tests do)."""
    from tests.integration.services import own_database
    from tests.own_redis import own_redis_database

    # empty: a run migrates once either way (its first instance), where a migrated
    # template would add a copy and a migrate that finds nothing to do
    with (
        own_database("switchyard_torture", migrated=False) as database_url,
        own_redis_database() as redis_url,
    ):
        yield database_url, redis_url


def make_cells(concurrencies: list[int], only: list[str]) -> list[Cell]:
    cells = []
    run = uuid.uuid4().hex[:6]
    for concurrency in concurrencies:
        for endpoint in ENDPOINTS:
            for kind in KINDS:
                if (endpoint, kind) in NOT_COUNTED:
                    continue
                if only and not any(
                    f"{endpoint}:{kind}:c{concurrency}".startswith(o) for o in only
                ):
                    continue
                label = (
                    f"t-{run}-{endpoint.replace('_', '-')}-{kind.replace('_', '-')}-{concurrency}"
                )
                cells.append(
                    Cell(
                        endpoint=endpoint,
                        kind=kind,
                        concurrency=concurrency,
                        key=f"sk-{label}-{uuid.uuid4().hex}",
                        key_name=label,
                        tag=label if kind == "tag" else "",
                        end_user=f"user-{label}" if kind == "end_user" else "",
                        context=f"ctx-{label}" if kind == "session" else "",
                        # five responses of a realtime session, else five ceilings
                        budget=(
                            RT_RESPONSE * BUDGET_CEILINGS
                            if endpoint == "realtime"
                            else CEILING * BUDGET_CEILINGS
                        ),
                    )
                )
    return cells


def _known_everywhere(bases: list[str], cells: list[Cell]) -> bool:
    for base in bases:
        for _ in range(4):  # a fresh connection each: each worker of the instance
            with httpx.Client(timeout=5) as client:
                for cell in (cells[0], cells[-1]):
                    reply = client.get(
                        base + "/v1/models", headers={"authorization": f"Bearer {cell.key}"}
                    )
                    if reply.status_code != 200:
                        return False
    return True


def run(
    concurrencies: list[int], only: list[str], workdir: Path, instances: int = 2
) -> dict[str, Any]:
    from tests.live import running_gateway

    cells = make_cells(concurrencies, only)
    if not cells:
        raise SystemExit("no cell matches --only")
    started = time.monotonic()
    with (
        services(workdir) as (database_url, redis_url),
        mock_upstream() as upstream,
        contextlib.ExitStack() as stack,
    ):
        needs_agent = any(c.endpoint == "a2a" for c in cells)
        agent = stack.enter_context(a2a_agent()) if needs_agent else ""
        needs_mcp = any(c.endpoint == "mcp" for c in cells)
        mcp = stack.enter_context(mcp_server()) if needs_mcp else ""
        realtime = ""
        if any(c.endpoint == "realtime" for c in cells):
            from tests.integration.mock_realtime import MockRealtime

            mock_rt = MockRealtime("sk-upstream-realtime").start()
            stack.callback(mock_rt.stop)
            realtime = mock_rt.url
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "SWITCHYARD_URL_FETCH_ALLOW": "127.0.0.1",
        }
        if any(c.endpoint == "batch" for c in cells):
            # several instances share one file store (docs/production.md): a batch run
            # by one instance writes its results where every instance reads them
            from tests.s3_server import s3_server, store_env

            env.update(store_env(stack.enter_context(s3_server())))
        gateways = [
            stack.enter_context(running_gateway(workdir / f"gw{n}", env=env, seed=False, workers=2))
            for n in range(instances)
        ]
        # one Django start for every cell's rows, with room for a loaded machine
        made = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "shell",
                "-c",
                setup_code(cells, upstream, agent, mcp, realtime),
            ],
            cwd=ROOT,
            env=gateways[0].env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if made.returncode != 0:
            raise RuntimeError(f"the setup failed: {made.stderr[-2000:]}")
        bases = [gw.url for gw in gateways]
        deadline = time.monotonic() + 30
        while not _known_everywhere(bases, cells):
            if time.monotonic() > deadline:
                raise RuntimeError("the instances did not learn the keys")
            time.sleep(0.2)
        for cell in cells:
            run_cell(bases, database_url, cell)
            print(row_of(cell), flush=True)
        tracebacks = sum(gw.log().count("Traceback") for gw in gateways)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_state(),
        "instances": instances,
        "workers": 2,
        "budget_usd": str(CEILING * BUDGET_CEILINGS),
        "ceiling_usd": str(CEILING),
        "seconds": round(time.monotonic() - started, 1),
        "tracebacks": tracebacks,
        "cells": [
            {**asdict(c), "name": c.name, "ok": c.ok, "key": "", "budget": str(c.budget)}
            for c in cells
        ],
        "failed": [c.name for c in cells if not c.ok],
    }


def machine_state() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


HEADER = (
    "| endpoint | budget kind | c | sent | served (burst) | spend / budget | bound "
    "| overrun (past the bound) | false refusals | other failures | verdict |\n"
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"
)


# -- realtime: sessions charged response by response ---------------------------------


@dataclass
class Session:
    admitted: bool = False
    responses: int = 0
    cut: bool = False  # ended by the gateway with budget_exceeded after responses
    refused: bool = False  # refused at admission with budget_exceeded
    other: str = ""


class Opened:
    """The sessions of a burst that have had their admission's answer: each admitted one
    asks for its first response only once every session of the burst has been admitted
    or refused, so "c sessions at once" means c admissions before any charge, however
    late a loaded machine lets one of them connect."""

    def __init__(self, sessions: int) -> None:
        self.left = sessions
        self.all = asyncio.Event()

    def one(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.all.set()


async def _realtime_session(base: str, cell: Cell, opened: Opened | None = None) -> Session:
    """One session: admitted (``session.created``) or refused (an ``error`` event),
    then (once ``opened`` says every session of its burst was answered) responses one
    after another until the gateway cuts it for the budget."""
    import websockets

    url = base.replace("http://", "ws://") + "/v1/realtime?model=torture-rt"
    out = Session()
    opened = opened or Opened(1)
    answered = False
    try:
        async with websockets.connect(url, additional_headers=headers_of(cell)) as socket:
            first = json.loads(await asyncio.wait_for(socket.recv(), 60))
            answered = True
            opened.one()
            if first.get("type") == "error":
                code = (first.get("error") or {}).get("code")
                out.refused = code == "budget_exceeded"
                out.other = "" if out.refused else f"admission: {json.dumps(first)[:200]}"
                return out
            out.admitted = True
            await asyncio.wait_for(opened.all.wait(), 60)
            for _ in range(RT_MOST_RESPONSES):
                create = {"type": "response.create", "response": {"metadata": {"delay": RT_DELAY}}}
                await socket.send(json.dumps(create))
                while True:
                    event = json.loads(await asyncio.wait_for(socket.recv(), 60))
                    if event.get("type") == "response.done":
                        out.responses += 1
                        break
                    if event.get("type") == "error":
                        if (event.get("error") or {}).get("code") == "budget_exceeded":
                            out.cut = True
                        else:
                            out.other = f"session: {json.dumps(event)[:200]}"
                        return out
            out.other = f"never cut: {RT_MOST_RESPONSES} responses"
    except websockets.ConnectionClosed as closed:
        if not (out.admitted and closed.rcvd is not None and closed.rcvd.code == 1008):
            out.other = f"closed: {closed}"
        out.cut = out.cut or out.admitted
    except (OSError, TimeoutError) as exc:
        out.other = f"{type(exc).__name__}: {exc}"
    finally:
        if not answered:
            opened.one()  # never answered: the others do not wait for it
    return out


def run_realtime_cell(bases: list[str], database_url: str, cell: Cell) -> None:
    """``cell.concurrency`` sessions at once over both instances, each asking for
    responses until it is cut, then one more session, which admission must refuse.

    The documented bound (docs/production.md, "Realtime sessions"): a session holds only
    ``SWITCHYARD_BUDGET_RESERVATION_USD`` and each response is charged when done, the
    session cut by the charge that finds the budget spent; so once the spend reaches the
    budget, each session still open adds at most the response it has in flight. The
    spend is at most the budget plus one response per session admitted in the burst
    (at most ``c`` open at once): ``budget + admitted x RT_RESPONSE``."""

    async def the_burst() -> list[Session]:
        opened = Opened(cell.concurrency)
        return await asyncio.gather(
            *(
                _realtime_session(bases[n % len(bases)], cell, opened)
                for n in range(cell.concurrency)
            )
        )

    started = time.monotonic()
    sessions = asyncio.run(the_burst())
    time.sleep(0.5)  # the last charges settle
    after = asyncio.run(_realtime_session(bases[0], cell))
    cell.sent = len(sessions) + 1
    admitted = [s for s in sessions if s.admitted]
    cell.burst_served = len(admitted)
    cell.burst_refused = sum(s.refused for s in sessions)
    cell.served = cell.burst_served + after.admitted
    cell.others += [s.other for s in [*sessions, after] if s.other]
    deadline = time.monotonic() + 20
    # every session's row: an admitted one's (a cut one is a 429 with its cost) and a
    # refused one's (a 429 costing nothing). Waiting for as many rows as sessions
    # admitted let the refusals' rows, written first, stand in for sessions whose rows
    # the journal had not written yet, and their responses went missing from the spend
    while True:
        rows = journal(database_url, cell.key_name)
        if len(rows) >= cell.sent or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    cell.spend = sum((cost for _, cost in rows), Decimal(0))
    cell.bound = cell.budget + len(admitted) * RT_RESPONSE
    cell.overrun = max(Decimal(0), cell.spend - cell.bound)
    charged = sum(s.responses for s in sessions) + after.responses
    if abs(cell.spend - charged * RT_RESPONSE) > Decimal("0.000001"):
        cell.others.append(f"the journal's ${cell.spend} is not {charged} responses' cost")
    if not any(s.cut for s in admitted):
        cell.others.append("no session was cut when the budget was spent")
    # a refusal is false when the budget had room for the session's hold even at the end
    if cell.burst_refused and cell.spend + cell.concurrency * RT_HOLD <= cell.budget:
        cell.false_refusals += cell.burst_refused
    if after.refused and cell.spend + RT_HOLD <= cell.budget:
        cell.false_refusals += 1
    if after.admitted and cell.spend >= cell.budget:
        cell.others.append("a session was admitted after the budget was spent")
    cell.seconds = round(time.monotonic() - started, 1)


def row_of(cell: Cell | dict[str, Any]) -> str:
    c = cell if isinstance(cell, dict) else {**asdict(cell), "ok": cell.ok}
    spend = Decimal(str(c["spend"])).quantize(Decimal("0.0001"))
    budget = Decimal(str(c["budget"])).quantize(Decimal("0.0001"))
    return (
        f"| {c['endpoint']} | {c['kind']} | {c['concurrency']} | {c['sent']} "
        f"| {c['served']} ({c['burst_served']}) | ${spend} / ${budget} "
        f"| ${Decimal(str(c.get('bound') or c['budget'])).quantize(Decimal('0.0001'))} "
        f"| ${Decimal(str(c['overrun'])).quantize(Decimal('0.0001'))} | {c['false_refusals']} "
        f"| {len(c['others'])} | {'pass' if c['ok'] else 'FAIL'} |"
    )


def table(result: dict[str, Any]) -> str:
    lines = [HEADER, *(row_of(c) for c in result["cells"])]
    failed = result["failed"]
    verdict = f"{len(failed)} of {len(result['cells'])} cells failed" if failed else "all pass"
    lines.append("")
    lines.append(
        f"{result['date']}; {result['instances']} instances x {result['workers']} workers, "
        f"PostgreSQL + Redis; {result['machine']}; {result['seconds']} s; {verdict}; "
        f"tracebacks in the logs: {result['tracebacks']}"
    )
    for cell in result["cells"]:
        for other in cell["others"][:3]:
            lines.append(f"- {cell['name']}: {other}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="concurrency 8 only")
    parser.add_argument("--concurrency", type=int, nargs="*", default=None)
    parser.add_argument("--only", nargs="*", default=[], help="cells: endpoint[:kind[:cN]]")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    concurrencies = args.concurrency or ([8] if args.quick else [8, 32])
    import tempfile

    with tempfile.TemporaryDirectory(prefix="switchyard-torture-") as tmp:
        result = run(concurrencies, args.only, Path(tmp), args.instances)
    text = table(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "budget_torture.md").write_text(text + "\n")
    (args.out / "budget_torture.json").write_text(json.dumps(result, indent=1, default=str))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
