"""Migration 0009: existing providers get empty settings and stay valid; it reverses."""

from __future__ import annotations

import pytest
from django.db import connection

from gateway.models import Provider
from tests.migrate import at, latest

BEFORE = [("gateway", "0008_security_extra_headers")]
AFTER = [("gateway", "0009_new_provider_kinds")]


@pytest.mark.django_db(transaction=True)
def test_existing_providers_get_empty_settings_and_the_migration_reverses() -> None:
    OldProvider = at(BEFORE).get_model("gateway", "Provider")
    row = OldProvider.objects.create(name="old", kind="openai", base_url="http://u.test/v1")
    assert at(AFTER).get_model("gateway", "Provider").objects.get(pk=row.pk).settings == {}
    at(BEFORE)  # and back: the column goes, the row stays
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM gateway_provider WHERE id = %s", [row.pk])
        assert cursor.fetchone()[0] == "old"
    latest()
    provider = Provider.objects.get(pk=row.pk)
    assert provider.settings == {}
    provider.full_clean()
    provider.kind, provider.base_url = "bedrock", ""  # the new kinds need no base URL
    provider.settings = {"aws_region_name": "us-east-1"}
    provider.full_clean()
    provider.save()
