"""The console's own tables (``console.models``): a blind comparison reveals its routes
only once a vote was cast (an open one always shows them), a saved prompt's name is one
per owner, and each row names itself readably in the admin and the logs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError

from console.models import BlindVote, Comparison, SavedPrompt, StoredHourSummary

pytestmark = pytest.mark.django_db


def test_a_blind_comparison_is_revealed_by_a_vote() -> None:
    assert Comparison.objects.create(blind=False).revealed
    blind = Comparison.objects.create(blind=True, title="ab")
    assert not blind.revealed
    vote = BlindVote.objects.create(comparison=blind, winner_index=1, winner_route="fast")
    assert blind.revealed
    assert str(vote) == f"vote on {blind.pk}: fast"
    tie = BlindVote.objects.create(comparison=blind, winner_index=None)
    assert str(tie) == f"vote on {blind.pk}: tie"


def test_names_and_one_saved_prompt_name_per_owner() -> None:
    untitled = Comparison.objects.create()
    assert str(untitled) == f"comparison {untitled.pk}" and str(Comparison(title="t")) == "t"
    hour = StoredHourSummary(hour=datetime(2026, 3, 4, 5, tzinfo=UTC), top_id=1, rows=1, summary={})
    assert str(hour) == "dashboard summary of 2026-03-04 05h"
    ann, bob = (User.objects.create_user(n) for n in ("ann", "bob"))
    saved = SavedPrompt.objects.create(owner=ann, name="triage")
    assert str(saved) == "triage"
    SavedPrompt.objects.create(owner=bob, name="triage")  # another owner's may share it
    with pytest.raises(IntegrityError):
        SavedPrompt.objects.create(owner=ann, name="triage")
