"""Migration 0061: existing provider base URLs and MCP server URLs with user info or a
query are sealed (read back as they were); the others are left as they are."""

from __future__ import annotations

import pytest
from django.db import connection

from gateway.models import McpServer, Provider
from tests.migrate import at, latest

BEFORE = [("gateway", "0060_tag_budgets")]
AFTER = [("gateway", "0061_sealed_urls")]
BASE = "https://u:pw-1@llm.example/v1?session=s-2"


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])
        value: str = cursor.fetchone()[0]
    return value


@pytest.mark.django_db(transaction=True)
def test_existing_urls_with_credentials_are_sealed_and_read_back_the_same() -> None:
    old = at(BEFORE)
    sealed = old.get_model("gateway", "Provider").objects.create(name="a", base_url=BASE)
    plain = old.get_model("gateway", "Provider").objects.create(name="b", base_url="https://b/v1")
    server = old.get_model("gateway", "McpServer").objects.create(name="m", url=BASE)
    assert raw("gateway_provider", "base_url", sealed.pk) == BASE  # in clear before
    at(AFTER)
    assert raw("gateway_provider", "base_url", sealed.pk).startswith("fernet:")
    assert raw("gateway_mcpserver", "url", server.pk).startswith("fernet:")
    assert raw("gateway_provider", "base_url", plain.pk) == "https://b/v1"
    at(BEFORE)  # and back: in clear again
    assert raw("gateway_provider", "base_url", sealed.pk) == BASE
    latest()  # sealed again, and today's models read them back as they were
    assert raw("gateway_provider", "base_url", sealed.pk).startswith("fernet:")
    assert Provider.objects.get(pk=sealed.pk).base_url == BASE
    assert McpServer.objects.get(pk=server.pk).url == BASE
