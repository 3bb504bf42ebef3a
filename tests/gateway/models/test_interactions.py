"""The stored interactions table (``gateway.models.interactions``): an interaction reads
as its id, lists newest first, and starts with no steps and no events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.models import StoredInteraction

pytestmark = pytest.mark.django_db


def test_an_interaction_reads_as_its_id_and_lists_newest_first() -> None:
    old = StoredInteraction.objects.create(
        id="int-old", created_at=timezone.now() - timedelta(hours=1)
    )
    new = StoredInteraction.objects.create(id="int-new")
    assert str(old) == "int-old"
    assert (new.input_steps, new.interaction, new.events, new.background) == ([], {}, "", False)
    assert list(StoredInteraction.objects.all()) == [new, old]
