"""Request tags' tables (``gateway.models.tags``): a tag budget answers LiteLLM's name for
its budget; a tag is once per log; a rollup row is once per (hour, tag, key)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from gateway.models import RequestLog
from gateway.models.tags import RequestTag, TagBudget, TagSpendRollup

HOUR = datetime(2026, 3, 4, 5, tzinfo=UTC)


def test_a_tag_budget_answers_litellms_name_for_its_budget() -> None:
    assert TagBudget(name="x", budget_usd=Decimal("2.5")).max_budget == Decimal("2.5")
    assert TagBudget(name="x").max_budget is None
    assert str(TagBudget(name="x")) == "x"


def test_a_rollup_row_reads_as_its_hour_tag_and_key() -> None:
    assert str(TagSpendRollup(hour=HOUR, tag="ci", key_id=4)) == "2026-03-04 05h ci key 4"


@pytest.mark.django_db
def test_a_tag_is_once_per_log_and_a_rollup_once_per_group() -> None:
    log = RequestLog.objects.create(request_id="req-tags-1")
    tag = RequestTag.objects.create(log=log, tag="ci", created_at=HOUR)
    assert str(tag) == f"ci on {log.pk}"
    with pytest.raises(IntegrityError), transaction.atomic():
        RequestTag.objects.create(log=log, tag="ci", created_at=HOUR)
    TagSpendRollup.objects.create(hour=HOUR, tag="ci", key_id=4)
    with pytest.raises(IntegrityError), transaction.atomic():
        TagSpendRollup.objects.create(hour=HOUR, tag="ci", key_id=4)
