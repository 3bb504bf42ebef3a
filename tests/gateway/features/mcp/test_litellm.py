"""LiteLLM ``mcp_servers:`` import (parse, plan, apply) and export: secrets stored
encrypted, references kept, a second import changes nothing, export imports back."""

from __future__ import annotations

import pytest
import yaml

from gateway.models import McpServer
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

CONFIG = """
model_list: []
mcp_servers:
  github:
    url: https://mcp.example/mcp
    transport: http
    auth_type: bearer_token
    auth_value: literal-token-Unmistakable-5521
    static_headers: {X-Team: os.environ/TEAM_HEADER}
    description: GitHub tools
    switchyard: {sampling_route: echo, price_usd: 0.02}
  files:
    transport: stdio
    command: npx
    args: ["-y", "server-filesystem", "/data"]
    env: {ROOT: /data}
  legacy:
    url: https://old.example/sse
    transport: sse
    auth_type: api_key
    auth_value: os.environ/LEGACY_KEY
  broken:
    transport: carrier-pigeon
"""


@pytest.mark.django_db
def test_import_plan_apply_and_round_trip() -> None:
    """As the operator's ``manage.py import_config`` imports it (stdio included)."""
    config = parse_config(CONFIG)
    config.operator = True
    assert [s.name for s in config.specs("mcp_servers")] == ["github", "files", "legacy"]
    assert any("broken" in str(s) for s in config.skipped)
    plan = plan_import(config)
    assert [c.action for c in plan.changes("mcp_servers")] == ["create"] * 3
    apply_plan(plan)
    github = McpServer.objects.get(name="github")
    assert github.bearer_ciphertext and "Unmistakable" not in github.bearer_ciphertext
    assert github.stored_bearer() == "literal-token-Unmistakable-5521"
    assert github.headers == {"X-Team": "os.environ/TEAM_HEADER"}
    assert github.sampling_route == "echo"  # Switchyard's own keys: LiteLLM has none
    assert str(github.price_usd) == "0.020000"
    files = McpServer.objects.get(name="files")
    assert files.transport == "stdio" and files.args == ["-y", "server-filesystem", "/data"]
    assert McpServer.objects.get(name="legacy").headers == {"X-API-Key": "os.environ/LEGACY_KEY"}
    # importing again changes nothing
    again_config = parse_config(CONFIG)
    again_config.operator = True
    again = plan_import(again_config)
    assert [c.action for c in again.changes("mcp_servers")] == ["unchanged"] * 3
    # export: the literal token becomes a reference unless secrets are included
    exported = export_config()
    assert "Unmistakable" not in exported
    section = yaml.safe_load(exported)["mcp_servers"]
    assert section["github"]["auth_value"].startswith("os.environ/")
    assert section["files"]["command"] == "npx"
    assert section["github"]["switchyard"] == {"sampling_route": "echo", "price_usd": 0.02}
    assert "switchyard" not in section["files"]
    with_secrets = yaml.safe_load(export_config(include_secrets=True))["mcp_servers"]
    assert with_secrets["github"]["auth_value"] == "literal-token-Unmistakable-5521"
    back_config = parse_config(export_config(include_secrets=True))
    back_config.operator = True
    back = plan_import(back_config)
    assert all(c.action == "unchanged" for c in back.changes("mcp_servers")), [
        (c.label, c.fields) for c in back.changes("mcp_servers")
    ]


@pytest.mark.parametrize(
    "price, reason",
    [
        ("-0.5", "0 or more"),
        ("nan", "0 or more"),
        ("true", "not a number"),
        ("lots", "not a number"),
    ],
)
def test_a_bad_price_skips_the_server_naming_its_field(price: str, reason: str) -> None:
    """The same rule and words as an A2A agent's price (``litellm_sections.dollars``)."""
    config = parse_config(
        "model_list: []\nmcp_servers:\n  paid:\n    url: https://mcp.example/mcp\n"
        f"    switchyard: {{price_usd: {price}}}\n"
    )
    assert not config.specs("mcp_servers")
    skipped = " ".join(str(s) for s in config.skipped)
    assert "mcp_servers.paid.switchyard.price_usd" in skipped and reason in skipped, skipped
