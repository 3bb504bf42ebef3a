"""Migration 0009: existing providers get empty settings and stay valid; it reverses."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.models import Provider

BEFORE = [("gateway", "0008_security_extra_headers")]


def migrate(target) -> MigrationExecutor:  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target if target else executor.loader.graph.leaf_nodes())
    return executor


@pytest.mark.django_db(transaction=True)
def test_existing_providers_get_empty_settings_and_the_migration_reverses() -> None:
    executor = migrate(BEFORE)
    OldProvider = executor.loader.project_state(BEFORE).apps.get_model("gateway", "Provider")
    row = OldProvider.objects.create(name="old", kind="openai", base_url="http://u.test/v1")
    migrate(None)
    provider = Provider.objects.get(pk=row.pk)
    assert provider.settings == {}
    provider.full_clean()
    provider.kind, provider.base_url = "bedrock", ""  # the new kinds need no base URL
    provider.settings = {"aws_region_name": "us-east-1"}
    provider.full_clean()
    provider.save()
    migrate(BEFORE)  # and back: the column goes, the row stays
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM gateway_provider WHERE id = %s", [row.pk])
        assert cursor.fetchone()[0] == "old"
    migrate(None)
