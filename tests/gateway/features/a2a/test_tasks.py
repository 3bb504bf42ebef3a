"""Which key started each task (``gateway.features.a2a.tasks``): a task is bound to the
first key an answer carries it for, and every other key sees it as not found; an agent
that answers in a context of its own has its tasks bound in the caller's session and its
context mapped back to it, for the key that started them only; the journal's retention
takes the mappings with the tasks."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.base.entries import MASTER, KeyEntry
from gateway.features.a2a import retention, tasks
from gateway.models import A2aAgent, A2aContext


def _key(pk: int) -> KeyEntry:
    return dataclasses.replace(MASTER, id=pk, name=f"k{pk}")


@pytest.mark.django_db
def test_the_agents_context_maps_back_to_the_callers_session() -> None:
    agent = A2aAgent.objects.create(name="forgetful", url="https://agents.example/f", card={})
    mine, other = _key(7), _key(8)
    assert tasks.bind(agent.pk, [("t1", "agent-ctx")], mine, "my-session") == set()
    # the task is in the caller's session; the agent's context leads back to it
    assert tasks.context_of(agent.pk, "t1", mine) == "my-session"
    assert tasks.session_of(agent.pk, "agent-ctx", mine) == "my-session"
    assert tasks.session_of(agent.pk, "my-session", mine) == "my-session"
    # another key naming the agent's context is not let into the caller's session
    assert tasks.session_of(agent.pk, "agent-ctx", other) == "agent-ctx"
    # an agent answering with no context: its task is still in the caller's session
    tasks.bind(agent.pk, [("t2", "")], mine, "my-session")
    assert tasks.context_of(agent.pk, "t2", mine) == "my-session"
    # the first mapping stays
    tasks.bind(agent.pk, [("t3", "agent-ctx")], other, "their-session")
    assert tasks.session_of(agent.pk, "agent-ctx", mine) == "my-session"
    # without a session known (the master key's call), the agent's own context
    tasks.bind(agent.pk, [("t4", "c4")], mine)
    assert tasks.context_of(agent.pk, "t4", mine) == "c4"
    assert A2aContext.objects.count() == 1


@pytest.mark.django_db
def test_the_mappings_go_with_the_journals_retention(settings) -> None:  # type: ignore[no-untyped-def]
    agent = A2aAgent.objects.create(name="old", url="https://agents.example/old", card={})
    key = _key(5)
    tasks.bind(agent.pk, [("t-old", "a-old")], key, "s-old")
    tasks.bind(agent.pk, [("t-new", "a-new")], key, "s-new")
    long_ago = timezone.now() - timedelta(days=40)
    A2aContext.objects.filter(context_id="a-old").update(created_at=long_ago)
    settings.SWITCHYARD_LOG_RETENTION_DAYS = 30
    assert retention.prune_tasks(10) == 1
    assert tasks.session_of(agent.pk, "a-old", key) == "a-old"
    assert tasks.session_of(agent.pk, "a-new", key) == "s-new"


@pytest.mark.django_db
def test_a_task_is_its_first_keys_and_no_other_keys() -> None:
    agent = A2aAgent.objects.create(name="echo", url="https://agents.example/e", card={})
    mine, other = _key(7), _key(8)
    assert tasks.bind(agent.pk, [("t1", "c1"), ("", "c0")], mine) == set()
    # another key's answer carrying the same task: not bound to it, reported foreign
    assert tasks.bind(agent.pk, [("t1", "c1"), ("t2", "c2")], other) == {"t1"}
    assert tasks.owns(agent.pk, "t1", mine) and not tasks.owns(agent.pk, "t1", other)
    assert not tasks.owns(agent.pk, "unknown", mine)
    assert tasks.owns(agent.pk, "anything", MASTER)  # the master key: any task
    assert tasks.owned(agent.pk, ["t1", "t2", "t1", "nope"], mine) == {"t1"}
    assert tasks.owned(agent.pk, ["t1", "t2"], other) == {"t2"}
    assert tasks.owned(agent.pk, ["x", "y"], MASTER) == {"x", "y"}
    assert tasks.context_of(agent.pk, "t1", mine) == "c1"
    assert tasks.context_of(agent.pk, "t1", other) is None  # another's: as if none
    assert tasks.context_of(agent.pk, "t1", MASTER) == "c1"
    assert tasks.context_of(agent.pk, "ghost", MASTER) == ""
    assert tasks.session_of(agent.pk, "", mine) == ""
