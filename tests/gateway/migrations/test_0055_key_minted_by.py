"""Migration 0055: existing keys are taken as minted by their owner (so a person's own
upstream identity keeps going with their keys); keys without an owner stay minted by
nobody."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.models import ApiKey

BEFORE = [("gateway", "0054_request_body_derived")]
AFTER = [("gateway", "0055_key_minted_by")]


def migrate(target) -> MigrationExecutor:  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target if target else executor.loader.graph.leaf_nodes())
    return executor


@pytest.mark.django_db(transaction=True)
def test_existing_keys_are_minted_by_their_owner() -> None:
    executor = migrate(BEFORE)
    OldKey = executor.loader.project_state(BEFORE).apps.get_model("gateway", "ApiKey")
    mo = User.objects.create_user("mo")
    owned = OldKey.objects.create(name="mine", prefix="sy-1", key_hash="a" * 64, user_id=mo.pk)
    ownerless = OldKey.objects.create(name="ci", prefix="sy-2", key_hash="b" * 64)
    migrate(AFTER)
    migrate(None)
    assert ApiKey.objects.get(pk=owned.pk).minted_by_id == mo.pk
    assert ApiKey.objects.get(pk=ownerless.pk).minted_by_id is None
