"""Host-level powers (``gateway.access.rules.operator``): providers are changed by owners,
admins and the operator; a deployment's params that steer a provider's credentials need
that same right; stdio MCP servers (commands on the host) come from the operator, or
from admins only when the operator sets ``SWITCHYARD_STDIO_MCP_SERVERS``; the gateway's
own settings are never read through ``os.environ/``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.access import roles
from gateway.access.authorization import decide
from gateway.access.roles import Actor
from gateway.access.rules.operator import (
    OPERATOR,
    REGISTERED,
    STDIO_SETTING,
    credential_params,
    launch_actor,
)

GEMINI = SimpleNamespace(kind="gemini", name="g")


def test_providers_are_changed_by_owners_admins_and_the_operator() -> None:
    assert decide(OPERATOR, "provider.change")
    assert decide(Actor(roles.OWNER), "provider.change")
    assert decide(Actor(roles.ADMIN), "provider.change")
    refusal = decide(Actor(roles.EDITOR), "provider.change")
    assert not refusal and "only owners and admins" in refusal.reason
    assert not decide(REGISTERED, "provider.change")


def test_params_that_steer_credentials_need_the_providers_right() -> None:
    params = {"api_key": "os.environ/X", "base_url": "https://h", "temperature": 0}
    assert credential_params("gemini", params) == ["api_key", "base_url"]
    assert credential_params("no-such-kind", params) == []
    editor = Actor(roles.EDITOR, teams={1: roles.EDITOR})
    refusal = decide(editor, "deployment.params", (GEMINI, params))
    assert not refusal and "api_key, base_url steer the credentials of provider 'g'" in (
        refusal.reason
    )
    assert decide(editor, "deployment.params", (GEMINI, {"temperature": 0}))
    assert decide(Actor(roles.ADMIN), "deployment.params", (GEMINI, params))


@pytest.mark.parametrize("allowed", [False, True])
def test_stdio_servers_come_from_the_operator_or_where_it_allows(settings, allowed) -> None:
    setattr(settings, STDIO_SETTING, allowed)
    assert decide(OPERATOR, "mcp_server.stdio")
    assert bool(decide(Actor(roles.ADMIN), "mcp_server.stdio")) is allowed
    assert bool(decide(REGISTERED, "mcp_server.stdio")) is allowed
    assert not decide(Actor(roles.EDITOR), "mcp_server.stdio")  # never below admin


def test_a_launch_acts_for_the_operator_only_for_its_own_servers() -> None:
    assert launch_actor(SimpleNamespace(from_operator=True)) is OPERATOR
    assert launch_actor(SimpleNamespace(from_operator=False)) is REGISTERED
    assert launch_actor(object()) is REGISTERED


def test_the_gateways_own_settings_are_never_read_from_the_environment() -> None:
    for actor in (OPERATOR, Actor(roles.OWNER)):  # the same answer for every actor
        refusal = decide(actor, "env.resolve", "SWITCHYARD_MASTER_KEY")
        assert not refusal and "the gateway's own settings" in refusal.reason
