"""Each person's OAuth connections, MCP's and A2A's, are one partial
(``console/_oauth_connections.html``): the two pages say their own words and link their
own URLs through it, and no other template draws the table again (before: A2A's page
was a copy of MCP's, line for line but its nouns)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string

ROOT = Path(__file__).resolve().parents[2]


def _items() -> list[SimpleNamespace]:
    return [
        SimpleNamespace(pk=7, name="north", description="", connected=True, expires_at=None),
        SimpleNamespace(pk=8, name="south", description="d", connected=False, expires_at=None),
    ]


@pytest.mark.parametrize(
    ("template", "items", "prefix", "noun", "revoked"),
    [
        ("mcp/connections.html", "servers", "mcp", "Server", "revoked at the server."),
        ("a2a/connections.html", "agents", "a2a", "Agent", "Your tokens are revoked."),
    ],
)
def test_each_page_fills_the_shared_table(template, items, prefix, noun, revoked) -> None:
    html = render_to_string(f"{template}#connections", {items: _items()})
    assert f"<th>{noun}</th>" in html
    assert f'action="/{prefix}-connections/7/disconnect/"' in html
    assert f'action="/{prefix}-connections/8/connect/"' in html
    assert "Disconnect from north? Your tokens are " in html and revoked in html
    assert html.count('id="connections"') == 1
    empty = render_to_string(f"{template}#connections", {items: []})
    assert "asks each person to connect." in empty and "<table" not in empty


def test_no_template_draws_the_table_again() -> None:
    drawing = [
        path.relative_to(ROOT).as_posix()
        for top in ("gateway", "console")
        for path in (ROOT / top).rglob("*.html")
        if 'id="connections"' in path.read_text(encoding="utf-8")
    ]
    assert drawing == ["console/templates/console/_oauth_connections.html"]
