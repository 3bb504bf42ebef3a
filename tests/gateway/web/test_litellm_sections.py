"""The LiteLLM sections kit (``gateway.web.litellm_sections``): the installed units'
sections in the order of ``INSTALLED_APPS``, each from its unit's ``litellm`` module;
the shell-safe variable names an export writes; the strings of nested params; a row's
validation at plan time as a ``ConfigError`` naming the path."""

from __future__ import annotations

import pytest

from gateway.models import McpServer
from gateway.web import litellm_sections
from gateway.web.litellm_sections import ConfigError


def test_the_sections_are_the_units_in_order() -> None:
    found = litellm_sections.sections()
    assert [s.key for s in found] == ["mcp_servers", "guardrails", "agents"]
    assert [s.parse.__module__ for s in found] == [
        "gateway.features.mcp.litellm",
        "gateway.features.guardrails.litellm",
        "gateway.features.a2a.litellm",
    ]
    assert {s.what for s in found} == {"MCP server", "guardrail", "A2A agent"}


def test_env_variable_and_strings() -> None:
    assert litellm_sections.env_variable("my-guard.eu", "GUARDRAIL", "api_key") == (
        "MY_GUARD_EU_GUARDRAIL_API_KEY"
    )
    assert litellm_sections.env_variable("1st") == "_1ST"
    nested = {"a": "x", "b": {"c": ["y", {"d": "z"}]}, "n": 3}
    # a mapping's strings at any depth; a bare string inside a list is not one (as
    # config as code has always read params)
    assert list(litellm_sections.strings(nested, "p")) == [
        ("p.a", "a", "x"),
        ("p.b.c[1].d", "d", "z"),
    ]


def test_validate_names_the_path(db) -> None:
    bad = McpServer(name="no spaces allowed", transport="streamable_http", url="https://x")
    with pytest.raises(ConfigError, match=r"^mcp_servers\.x: name:"):
        litellm_sections.validate(bad, "mcp_servers.x")
    litellm_sections.validate(McpServer(name="fine", url="https://x"), "mcp_servers.fine")


def test_plan_each_plans_every_entry_it_can_and_names_the_others() -> None:
    from dataclasses import dataclass

    from gateway.web.litellm_sections import Change, ConfigError, plan_each

    @dataclass
    class Entry:
        path: str
        name: str

    def plan(entry: Entry) -> Change:
        if not entry.name:
            raise ConfigError("a name is needed")
        return Change("create", entry.name, None)

    changes, skipped = plan_each([Entry("a[0]", "x"), Entry("a[1]", ""), Entry("a[2]", "y")], plan)
    assert [c.label for c in changes] == ["x", "y"]
    assert skipped == [("a[1]", "a name is needed")]
