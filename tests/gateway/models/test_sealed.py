"""Provider base URLs and MCP server URLs are secret by their type (``Secrecy.URL``), not
by a guess at parameter names: user info and every query value are sealed at rest,
masked in ``/api`` and on console pages (for every role that sees them), and exported
as an ``os.environ/`` name unless secrets are asked for. The control: a URL without
user info or a query is stored, shown and exported as it is."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from gateway.access import roles
from gateway.access.registry import SEALED_IN
from gateway.base.secrets import crypto
from gateway.models import A2aAgent, Guardrail, McpServer, Provider, Route
from gateway.models.sealed import stored_tokens
from gateway.ops.litellm.export import export_config

# the password and the session value are what no name heuristic called a credential
SECRETS = ("uSeR-7q", "pAsS-9x7", "kEy-abc123", "sEsS-77x")
BASE = "https://uSeR-7q:pAsS-9x7@llm.example/v1?key=kEy-abc123&session=sEsS-77x"
MASKED_BASE = "https://***@llm.example/v1?key=***&session=***"
QUIET = "https://q.example/v1?session=sEsS-77x"
MCP_URL = "https://uSeR-7q:pAsS-9x7@mcp.example/mcp?key=kEy-abc123&session=sEsS-77x"
MASKED_MCP = "https://***@mcp.example/mcp?key=***&session=***"


def stored(table: str, column: str, pk: int) -> str:
    """The column's value as the database holds it (no model field in between)."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])
        value: str = cursor.fetchone()[0]
    return value


def as_role(role: str) -> Client:
    user = User.objects.create_user(f"{role}-1", password="pw-123456789")
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


def leaks(text: str | bytes) -> list[str]:
    body = text.decode() if isinstance(text, bytes) else text
    return [secret for secret in SECRETS if secret in body]


@pytest.fixture
def providers(db: None) -> dict[str, Provider]:
    sealed = Provider.objects.create(name="sealed", kind="openai", base_url=BASE)
    plain = Provider.objects.create(name="plain", kind="openai", base_url="https://p.example/v1")
    return {"sealed": sealed, "plain": plain}


def test_a_provider_base_url_with_credentials_is_sealed_at_rest(
    providers: dict[str, Provider],
) -> None:
    raw = stored("gateway_provider", "base_url", providers["sealed"].pk)
    assert raw.startswith("fernet:") and leaks(raw) == []
    assert Provider.objects.get(name="sealed").base_url == BASE  # the code reads it plain
    assert stored("gateway_provider", "base_url", providers["plain"].pk) == "https://p.example/v1"


def test_a_viewer_sees_it_masked_in_the_api_and_on_the_page(
    providers: dict[str, Provider],
) -> None:
    viewer = as_role(roles.VIEWER)
    answer = viewer.get("/api/providers")
    assert answer.status_code == 200 and leaks(answer.content) == []
    shown = {p["name"]: p["base_url"] for p in answer.json()}
    assert shown == {"sealed": MASKED_BASE, "plain": "https://p.example/v1"}
    page = viewer.get("/providers/")
    assert page.status_code == 200 and leaks(page.content) == []
    assert MASKED_BASE.replace("&", "&amp;") in page.content.decode()
    assert "https://p.example/v1" in page.content.decode()


def test_an_export_names_it_as_a_variable(providers: dict[str, Provider]) -> None:
    from gateway.models import Deployment, Route

    # a query value no name heuristic calls a credential is one all the same
    quiet = Provider.objects.create(name="quiet", kind="openai", base_url=QUIET)
    for provider in (providers["sealed"], providers["plain"], quiet):
        route = Route.objects.create(name=f"r-{provider.name}")
        Deployment.objects.create(route=route, provider=provider, model="m")
    text = export_config()
    assert leaks(text) == []
    bases = {
        entry["model_name"]: entry["litellm_params"].get("api_base")
        for entry in yaml.safe_load(text)["model_list"]
    }
    assert bases["r-sealed"].startswith("os.environ/")
    assert bases["r-quiet"].startswith("os.environ/")
    assert bases["r-plain"] == "https://p.example/v1"
    assert BASE in export_config(include_secrets=True)  # asked for: the stored URL


@pytest.mark.django_db
def test_an_mcp_server_url_is_sealed_masked_kept_and_exported_by_type() -> None:
    server = McpServer.objects.create(name="docs", url=MCP_URL)
    plain = McpServer.objects.create(name="open", url="https://open.example/mcp")
    raw = stored("gateway_mcpserver", "url", server.pk)
    assert raw.startswith("fernet:") and leaks(raw) == []
    assert stored("gateway_mcpserver", "url", plain.pk) == "https://open.example/mcp"
    admin = as_role(roles.ADMIN)
    answer = admin.get("/api/mcp-servers")
    assert answer.status_code == 200 and leaks(answer.content) == []
    shown = {s["name"]: s["url"] for s in answer.json()}
    assert shown == {"docs": MASKED_MCP, "open": "https://open.example/mcp"}
    for page in (admin.get("/mcp-servers/"), admin.get(f"/mcp-servers/{server.pk}/")):
        assert page.status_code == 200 and leaks(page.content) == []
        assert MASKED_MCP.replace("&", "&amp;") in page.content.decode()
    # the mask sent back (a form re-sends what it showed) keeps the stored URL
    form = {"name": "docs", "transport": "streamable_http", "url": MASKED_MCP,
            "description": "changed", "enabled": "on", "connect_timeout": "10",
            "call_timeout": "60"}  # fmt: skip
    assert admin.post(f"/mcp-servers/{server.pk}/", form).status_code == 302
    server.refresh_from_db()
    assert (server.url, server.description) == (MCP_URL, "changed")
    exported: dict[str, Any] = yaml.safe_load(export_config())["mcp_servers"]
    assert exported["docs"]["url"].startswith("os.environ/") and leaks(str(exported)) == []
    assert exported["open"]["url"] == "https://open.example/mcp"


@pytest.mark.django_db
def test_the_registry_s_sealed_values_are_read_as_stored_without_opening_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a snapshot opens ahead (``crypto.open_ahead``): every sealed value of the
    registry's secret-bearing fields, alone or inside JSON, and none of a plain field."""
    provider = Provider(name="p", kind="openai", base_url=BASE)
    provider.set_secret("sk-provider")
    provider.set_extra_headers({"X-Key": "hdr", "X-Ref": "os.environ/HDR"})
    provider.save()
    headers = Provider.objects.get(pk=provider.pk).extra_headers
    assert headers["X-Ref"] == "os.environ/HDR"
    mcp = McpServer(name="m", transport="streamable_http", url="https://mcp.example/")
    mcp.set_bearer("mcp-bearer")
    mcp.save()
    agent = A2aAgent(name="a", url=MCP_URL)
    agent.set_bearer("a2a-bearer")
    agent.save()
    params = {"api_key": crypto.encrypt("g-key"), "list": [crypto.encrypt("g-item"), 3]}
    Guardrail.objects.create(name="g", kind="secrets", params=params)
    Route.objects.create(name="r", description=crypto.encrypt("plain, not read"))

    def opened(value: str) -> str:
        raise AssertionError("opened")

    monkeypatch.setattr(crypto, "decrypt", opened)
    found = stored_tokens(SEALED_IN)
    expected = {
        stored("gateway_provider", "base_url", provider.pk),
        stored("gateway_provider", "secret_ciphertext", provider.pk),
        headers["X-Key"],
        stored("gateway_mcpserver", "bearer_ciphertext", mcp.pk),
        stored("gateway_a2aagent", "url", agent.pk),
        stored("gateway_a2aagent", "bearer_ciphertext", agent.pk),
        params["api_key"],
        params["list"][0],
    }
    assert all(value.startswith(crypto.PREFIX) for value in expected)
    assert found == expected
