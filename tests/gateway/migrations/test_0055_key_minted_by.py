"""Migration 0055: existing keys are taken as minted by their owner (so a person's own
upstream identity keeps going with their keys); keys without an owner stay minted by
nobody."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from gateway.models import ApiKey
from tests.migrate import at, latest

BEFORE = [("gateway", "0054_request_body_derived")]


@pytest.mark.django_db(transaction=True)
def test_existing_keys_are_minted_by_their_owner() -> None:
    OldKey = at(BEFORE).get_model("gateway", "ApiKey")
    mo = User.objects.create_user("mo")
    owned = OldKey.objects.create(name="mine", prefix="sy-1", key_hash="a" * 64, user_id=mo.pk)
    ownerless = OldKey.objects.create(name="ci", prefix="sy-2", key_hash="b" * 64)
    latest()  # 0055 and every migration after it
    assert ApiKey.objects.get(pk=owned.pk).minted_by_id == mo.pk
    assert ApiKey.objects.get(pk=ownerless.pk).minted_by_id is None
