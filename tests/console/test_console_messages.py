"""Issue #43: the console's messages speak its own words, not Django's model wording
("Mcp server with this Name already exists.")."""

from __future__ import annotations

from django.test import Client

from gateway.models import McpServer


def test_a_second_mcp_server_of_a_name_is_refused_in_plain_words(staff_client: Client) -> None:
    McpServer.objects.create(name="docs", url="https://docs.example/mcp")
    answer = staff_client.post(
        "/mcp-servers/new/",
        {"name": "docs", "transport": "streamable_http", "url": "https://other.example/mcp",
         "connect_timeout": "10", "call_timeout": "60"},
    )  # fmt: skip
    html = answer.content.decode()
    assert answer.status_code == 200 and McpServer.objects.filter(name="docs").count() == 1
    assert "An MCP server named docs already exists." in html
    assert "Mcp server with this" not in html
