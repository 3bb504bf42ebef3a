"""``/mcp``'s handlers decide by the key's grant (``gateway/features/mcp/rules.py``): a
``server__tool`` grant opens that tool only, never the server's resources or prompts;
a grant of the whole server opens them. In process, with a fake pool."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from gateway.access import registry
from gateway.base.entries import MASTER, KeyEntry, McpServerEntry, Snapshot
from gateway.features.mcp import endpoint, pool

PROMPT = types.Prompt(name="greet")
RESOURCE = types.Resource(uri="test://secret-notes", name="notes")


def key(*allowed: str) -> KeyEntry:
    return dataclasses.replace(MASTER, id=11, name="k", mcp_allowed=frozenset(allowed))


def ctx(entry: KeyEntry, only: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(scope={endpoint.SCOPE_KEY: (entry, only, "")}))


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch, snapshot_reset):  # type: ignore[no-untyped-def]
    server = McpServerEntry(
        id=1, name="probe", transport="streamable_http", url="http://127.0.0.1:9/mcp",
        headers=(), bearer="", command="", args=(), env=(), enabled=True,
        connect_timeout=1, call_timeout=1,
    )  # fmt: skip
    registry.install(Snapshot(version=1, mcp_servers={"probe": server}))

    async def list_resources(name: str) -> list[types.Resource]:
        return [RESOURCE]

    async def read_resource(name: str, uri: str) -> types.ReadResourceResult:
        contents = [types.TextResourceContents(uri=uri, text="the notes")]
        return types.ReadResourceResult(contents=contents)

    async def list_prompts(name: str) -> list[types.Prompt]:
        return [PROMPT]

    async def get_prompt(name: str, prompt: str, arguments: object) -> types.GetPromptResult:
        return types.GetPromptResult(messages=[])

    async def read_resource_in_rounds(
        name: str, uri: str, **rounds: object
    ) -> types.ReadResourceResult:
        return await read_resource(name, uri)

    async def get_prompt_in_rounds(
        name: str, prompt: str, arguments: object = None, **rounds: object
    ) -> types.GetPromptResult:
        return await get_prompt(name, prompt, arguments)

    for fake in (list_resources, read_resource, list_prompts, get_prompt):
        monkeypatch.setattr(pool, fake.__name__, fake)
    # resources/read and prompts/get go through the multi-round-trip reads (rounds.py)
    monkeypatch.setattr(pool, "read_resource_in_rounds", read_resource_in_rounds)
    monkeypatch.setattr(pool, "get_prompt_in_rounds", get_prompt_in_rounds)
    monkeypatch.setattr(endpoint, "_resource_owner", {str(RESOURCE.uri): "probe"})


@pytest.mark.parametrize("only", [None, "probe"])
async def test_a_tool_grant_opens_no_resources_or_prompts(probe, only):
    tool_only = key("probe__safe_tool")
    assert (await endpoint._list_resources(ctx(tool_only, only), None)).resources == []
    assert (await endpoint._list_prompts(ctx(tool_only, only), None)).prompts == []
    read = types.ReadResourceRequestParams(uri=str(RESOURCE.uri))
    with pytest.raises(MCPError, match="unknown resource"):
        await endpoint._read_resource(ctx(tool_only, only), read)
    name = "greet" if only else "probe__greet"
    with pytest.raises(MCPError, match="unknown prompt"):
        await endpoint._get_prompt(ctx(tool_only, only), types.GetPromptRequestParams(name=name))


@pytest.mark.parametrize("grant", ["probe", "*"])
async def test_a_grant_of_the_whole_server_opens_them(probe, grant):
    whole = key(grant)
    listed = (await endpoint._list_resources(ctx(whole), None)).resources
    assert [str(r.uri) for r in listed] == [str(RESOURCE.uri)]
    assert [p.name for p in (await endpoint._list_prompts(ctx(whole), None)).prompts] == [
        "probe__greet"
    ]
    read = types.ReadResourceRequestParams(uri=str(RESOURCE.uri))
    assert (await endpoint._read_resource(ctx(whole), read)).contents[0].text == "the notes"
    got = await endpoint._get_prompt(ctx(whole), types.GetPromptRequestParams(name="probe__greet"))
    assert got.messages == []
