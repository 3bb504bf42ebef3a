"""Identity is the holder (H5): a person's own token to a ``per_user`` OAuth MCP server
goes only with a key they minted themselves. An editor mints a team key "for" a member
who connected their account, and calls the server with it through ``/mcp`` and as a
hosted tool (a Chat Completions client on a route that attaches the server): the
member's token is never sent, the call gets the "connect your account" answer a person
who never connected gets. The member's own key sends it (the path is live).

In process: the token row as connecting leaves it, the keys minted through ``/api``, the
snapshot the registry builds from them, and a fake pool that makes the OAuth choice the
real one makes (``caller.principal``, then ``caller.Bearer``: ``pool._oauth_connection``)
and answers with the ``Authorization`` header it would send."""

from __future__ import annotations

import dataclasses
import json
import time
from types import SimpleNamespace
from typing import Any

import httpx
import httpx2
import mcp_types as types
import orjson
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client
from mcp.shared.exceptions import MCPError

from gateway import journal
from gateway.access import registry, roles
from gateway.base import http
from gateway.base.entries import KeyEntry, own_identity
from gateway.core import service
from gateway.features.mcp import endpoint, pool
from gateway.features.mcp.oauth import caller, store, tokens
from gateway.models import McpServer, Team
from tests.gateway.entries import route

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "member-upstream-token-Unmistakable-4411"


def _mint(minter: User, name: str, **body: Any) -> str:
    """A key minted through /api by ``minter`` (signed in); its raw key."""
    client = Client()
    client.force_login(minter)
    fields = {"name": name, "team": "red", "mcp_allowed": ["files"], **body}
    reply = client.post("/api/keys/", json.dumps(fields), content_type="application/json")
    assert reply.status_code == 201, reply.content
    return str(reply.json()["key"])


@pytest.fixture
def world(settings, snapshot_reset, monkeypatch) -> dict[str, Any]:
    settings.REDIS_URL = ""
    monkeypatch.setattr(journal, "record", lambda record: None)
    tokens._held.clear()
    team = Team.objects.create(name="red", mcp_allowed=["files"])
    people = {}
    for name, role in (("ed", "editor"), ("mo", "member")):
        people[name] = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(people[name], role)
        roles.assign_membership(people[name], team, role)
    server = McpServer.objects.create(
        name="files", url="http://127.0.0.1:9/mcp", oauth=McpServer.OAuth.PER_USER
    )
    # mo connected their account: the row the console's connect flow leaves
    connected = store.Tokens(TOKEN, "refresh-1", time.time() + 3600, "", "http://127.0.0.1:9")
    async_to_sync(store.save_tokens)(server.pk, people["mo"].pk, connected)
    keys = {
        "for_mo": _mint(people["ed"], "for-mo", user="mo"),  # the editor holds it
        "mos_own": _mint(people["mo"], "mine"),
    }
    yield {"people": people, "keys": keys}
    tokens._held.clear()


@pytest.fixture
def upstream(monkeypatch) -> list[str]:
    """The ``Authorization`` header each tool call sends the server."""
    sent: list[str] = []

    async def authorization(server: str) -> str:
        entry = registry.current().mcp_servers[server]
        auth = caller.Bearer(entry, caller.principal(entry))  # as pool._oauth_connection
        request = await auth.async_auth_flow(httpx2.Request("POST", entry.url)).__anext__()
        return str(request.headers["Authorization"])

    async def list_tools(server: str) -> list[types.Tool]:
        await authorization(server)
        return [types.Tool(name="whoami", input_schema={"type": "object"})]

    async def call_tool(server: str, tool: str, arguments: Any, **_: Any) -> types.CallToolResult:
        header = await authorization(server)
        sent.append(header)
        return types.CallToolResult(content=[types.TextContent(type="text", text="you: mo")])

    monkeypatch.setattr(pool, "list_tools", list_tools)
    monkeypatch.setattr(pool, "call_tool", call_tool)
    monkeypatch.setattr(pool, "call_tool_in_rounds", call_tool)  # /mcp's calls
    return sent


async def _entry(raw: str) -> KeyEntry:
    await registry.arebuild()
    entry = registry.current().key(raw)
    assert entry is not None
    return entry


async def _through_mcp(entry: KeyEntry) -> types.CallToolResult:
    """``tools/call`` of ``files__whoami`` as ``/mcp`` hands it its authenticated key."""
    request = SimpleNamespace(scope={endpoint.SCOPE_KEY: (entry, None, "")}, base_url="")
    ctx = SimpleNamespace(request=request, meta=None)
    params = types.CallToolRequestParams(name="files__whoami", arguments={})
    return await endpoint._call_tool(ctx, params)  # type: ignore[arg-type]


async def test_a_key_minted_for_a_member_never_sends_their_token_on_mcp(world, upstream):
    for_mo = await _entry(world["keys"]["for_mo"])
    assert for_mo.user_id == world["people"]["mo"].pk  # owned by mo, minted by the editor
    with pytest.raises(MCPError) as refused:
        await _through_mcp(for_mo)
    assert "connect" in str(refused.value) and "minted" in str(refused.value)
    assert upstream == []  # nothing sent: neither mo's token nor any other

    # control: mo's own key sends mo's token through the same path
    own = await _entry(world["keys"]["mos_own"])
    result = await _through_mcp(own)
    assert not result.is_error
    assert upstream == [f"Bearer {TOKEN}"]


class Model:
    """Calls ``files__whoami`` when offered it, then answers with what the tool said."""

    def __init__(self) -> None:
        self.offered: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        self.offered += [t["function"]["name"] for t in body.get("tools") or []]
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if results or not body.get("tools"):  # no tools offered: it answers
            message: dict[str, Any] = {"role": "assistant", "content": f"tool: {results}"}
            finish = "stop"
        else:
            call = {"id": "c1", "type": "function"}
            call["function"] = {"name": "files__whoami", "arguments": "{}"}
            message, finish = (
                {"role": "assistant", "content": None, "tool_calls": [call]},
                "tool_calls",
            )
        choice = {"index": 0, "message": message, "finish_reason": finish}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        answer = {"id": "x", "object": "chat.completion", "created": 1, "model": "up-1"}
        return httpx.Response(200, json={**answer, "choices": [choice], "usage": usage})


async def _hosted(entry: KeyEntry) -> tuple[list[str], str]:
    """A chat request on a route attaching ``files``: the tools offered to the model and
    its final text."""
    attached = dataclasses.replace(
        route("files-gpt", "up-1", max_attempts=1), mcp_servers=("files",)
    )
    now = registry.current()
    registry.install(dataclasses.replace(now, routes={**now.routes, "files-gpt": attached}))
    body = {"model": "files-gpt", "messages": [{"role": "user", "content": "who am I?"}]}
    model = Model()
    http.use_transport(httpx.MockTransport(model))
    try:
        reply = await service.handle(
            "chat", "openai", orjson.dumps(body), {}, service.Caller(key=entry)
        )
    finally:
        http.use_transport(None)
    assert reply.status == 200, reply.body
    return model.offered, str(orjson.loads(reply.body)["choices"][0]["message"]["content"])


async def test_a_key_minted_for_a_member_never_sends_their_token_as_a_hosted_tool(world, upstream):
    # the server's tools are listed as for a person who never connected: not at all
    offered, said = await _hosted(await _entry(world["keys"]["for_mo"]))
    assert upstream == [] and offered == []
    # control: mo's own key lists them with mo's token, and the call sends it
    offered, said = await _hosted(await _entry(world["keys"]["mos_own"]))
    assert set(offered) == {"files__whoami"} and "you: mo" in said
    assert upstream == [f"Bearer {TOKEN}"]


def test_identity_goes_only_with_the_holder() -> None:
    """The one rule every path asks: the owner's own identity when they hold the key."""
    assert own_identity(7, 7)
    assert not own_identity(7, 8)  # minted for 7 by 8
    assert not own_identity(7, None)  # minted by the operator or the master key
    assert not own_identity(None, None)
