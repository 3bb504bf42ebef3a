"""The A2A tables (``gateway.models.a2a``): an agent shows its URL with credentials
masked and names a clash of names in words; a task and a context are each once per
agent and read as what they bind."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from gateway.models import A2aAgent, A2aContext, A2aTask

pytestmark = pytest.mark.django_db


def agent(name: str = "helper", **fields) -> A2aAgent:  # type: ignore[no-untyped-def]
    return A2aAgent.objects.create(name=name, url="https://agent.example/", **fields)


def test_the_url_is_shown_with_its_user_info_and_query_values_masked() -> None:
    row = A2aAgent(name="x", url="https://bob:pw@agent.example/card?token=abc&plain")
    assert row.url_display == "https://***@agent.example/card?token=***&plain"
    assert A2aAgent(name="x", url="").url_display == ""
    assert str(row) == "x"


def test_a_second_agent_of_the_same_name_is_refused_in_words() -> None:
    agent("twin")
    with pytest.raises(ValidationError) as caught:
        A2aAgent(name="twin", url="https://other.example/").validate_unique()
    assert caught.value.messages == ["An agent named twin already exists."]


def test_other_unique_checks_keep_djangos_message() -> None:
    row = A2aAgent(name="x", url="https://a.example/")
    error = row.unique_error_message(A2aAgent, ("name", "url"))
    assert "already exists" in str(error.message) and "An agent named" not in str(error.message)


def test_a_task_and_a_context_are_once_per_agent_and_read_as_what_they_bind() -> None:
    row = agent()
    task = A2aTask.objects.create(agent=row, task_id="t-1", key_id=3)
    context = A2aContext.objects.create(agent=row, context_id="c-9", session="s-1", key_id=3)
    assert str(task) == f"{row.pk}:t-1"
    assert str(context) == f"{row.pk}:c-9->s-1"
    A2aTask.objects.create(agent=agent("other"), task_id="t-1")  # another agent's: fine
    with pytest.raises(IntegrityError):
        A2aTask.objects.create(agent=row, task_id="t-1")
