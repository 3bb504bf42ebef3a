"""Which servers and tools a key may use: none by default, ``server``, ``server__tool``,
``*``; the master key everything; names split at the first ``__``."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.access.keys import _mcp_allowed
from gateway.base.entries import MASTER, mcp_within
from gateway.features.mcp import permissions, rules


def key(*allowed: str):
    return dataclasses.replace(MASTER, id=7, name="k", mcp_allowed=frozenset(allowed))


def test_default_is_none_and_master_sees_all() -> None:
    assert not permissions.allows_server(key(), "web")
    assert not permissions.allows_tool(key(), "web", "add")
    assert permissions.allows_server(MASTER, "web") and permissions.allows_tool(MASTER, "web", "x")


def test_server_tool_and_star() -> None:
    one = key("local__add", "web")
    assert permissions.allows_server(one, "local") and permissions.allows_tool(one, "local", "add")
    assert not permissions.allows_tool(one, "local", "echo")
    assert permissions.allows_tool(one, "web", "anything")
    assert not permissions.allows_server(one, "local2")  # a prefix is not the server
    assert permissions.allows_tool(key("*"), "any", "tool")


def test_names_split_at_the_first_separator() -> None:
    assert permissions.split("web__get__page") == ("web", "get__page")
    assert permissions.split("web") is None and permissions.split("__x") is None
    assert permissions.qualified("web", "get__page") == "web__get__page"


def test_key_field_parsing() -> None:
    assert _mcp_allowed("web, local__add  *") == ["web", "local__add", "*"]
    assert _mcp_allowed(None) == []
    with pytest.raises(ValueError):
        _mcp_allowed(["bad name"])


def test_team_bounds_the_key() -> None:
    """effective = the key's list within the team's; a team without a list does not
    restrict, an empty one allows nothing."""
    assert mcp_within({"web", "local__add"}, None) == {"web", "local__add"}
    assert mcp_within({"web", "local__add"}, []) == frozenset()
    assert mcp_within({"web", "local__add"}, ["*"]) == {"web", "local__add"}
    assert mcp_within({"*"}, ["web", "local__add"]) == {"web", "local__add"}
    assert mcp_within({"web"}, ["web__get", "local"]) == {"web__get"}
    assert mcp_within({"web__get", "web__put"}, ["web"]) == {"web__get", "web__put"}
    assert mcp_within({"web__get", "local"}, ["web__put"]) == frozenset()
    bounded = key(*mcp_within({"web", "local__add"}, ["web__get", "local"]))
    assert permissions.allows_tool(bounded, "web", "get")
    assert not permissions.allows_tool(bounded, "web", "put")
    assert rules.tools_granted(bounded, "web") == ["get"]
    assert permissions.allows_tool(bounded, "local", "add")
    assert not permissions.allows_tool(bounded, "local", "echo")
