"""The journal's retention round takes task bindings older than the logs it keeps (and
none when the logs are kept for ever); a pruned task is one nobody owns (not found)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.base import hooks
from gateway.base.entries import MASTER
from gateway.features.a2a import retention, tasks
from gateway.models import A2aAgent, A2aTask


@pytest.mark.django_db
def test_old_bindings_go_with_the_journals_retention(settings) -> None:
    assert retention.prune_tasks in list(hooks.pruners)
    agent = A2aAgent.objects.create(name="old", url="https://agents.example/old", card={})
    key = dataclasses.replace(MASTER, id=5, name="k")
    assert tasks.bind(agent.pk, [("t-old", "c"), ("t-new", "c")], key) == set()
    A2aTask.objects.filter(task_id="t-old").update(created_at=timezone.now() - timedelta(days=40))
    settings.SWITCHYARD_LOG_RETENTION_DAYS = 0
    assert retention.prune_tasks(10) == 0
    settings.SWITCHYARD_LOG_RETENTION_DAYS = 30
    assert retention.prune_tasks(10) == 1
    assert tasks.owns(agent.pk, "t-new", key) and not tasks.owns(agent.pk, "t-old", key)
