"""The chain of stored turns (gateway/core/stored_chain): read oldest first with each
row's link back, seen only by the key of its last turn, and a gone earlier part shown
by the first row's link."""

from __future__ import annotations

import pytest

from gateway.core import stored_chain
from gateway.models import StoredInteraction, StoredResponse


def _turns(key_id: int | None) -> None:
    StoredResponse.objects.create(id="r1", key_id=key_id, output=["a"])
    StoredResponse.objects.create(id="r2", key_id=key_id, previous_response_id="r1", output=["b"])
    StoredResponse.objects.create(id="r3", key_id=key_id, previous_response_id="r2", output=["c"])


def _chain(last_id: str, key_id: int | None) -> list[tuple[object, ...]]:
    return stored_chain.rows(StoredResponse, "previous_response_id", ("id",), last_id, key_id)


@pytest.mark.django_db
def test_the_chain_is_read_oldest_first_with_each_link_back() -> None:
    _turns(7)
    assert _chain("r3", 7) == [("r1", ""), ("r2", "r1"), ("r3", "r2")]
    assert _chain("r2", 7) == [("r1", ""), ("r2", "r1")]


@pytest.mark.django_db
def test_only_the_key_of_the_last_turn_reads_it() -> None:
    _turns(7)
    assert _chain("r3", 8) == []
    assert _chain("r3", None) == []  # the master key's are its own
    assert _chain("nope", 7) == []
    StoredResponse.objects.create(id="m1", previous_response_id="r2")
    assert [row[0] for row in _chain("m1", None)] == ["r1", "r2", "m1"]


@pytest.mark.django_db
def test_a_gone_earlier_part_shows_in_the_first_rows_link() -> None:
    _turns(None)
    StoredResponse.objects.filter(id="r1").delete()
    assert _chain("r3", None) == [("r2", "r1"), ("r3", "r2")]


@pytest.mark.django_db
def test_the_columns_asked_come_in_their_order() -> None:
    StoredInteraction.objects.create(id="i1", status="completed", interaction={"steps": []})
    StoredInteraction.objects.create(id="i2", status="in_progress", previous_interaction_id="i1")
    rows = stored_chain.rows(
        StoredInteraction, "previous_interaction_id", ("status", "id"), "i2", None
    )
    assert rows == [("completed", "i1", ""), ("in_progress", "i2", "i1")]
