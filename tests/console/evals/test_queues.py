"""Annotation queues (``console.evals.queues``): a queue filled from a journal filter takes
a stable sample, and two reviewers are never given the same item (the lock). The pages:
``test_queue_views.py``; ``/api/annotation-queues``: ``test_queue_api.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.evals import queues
from console.evals.models import QueueItem
from gateway.models import Score

from .queue_support import logged, make_queue

pytestmark = pytest.mark.django_db


def test_a_queue_filled_from_a_filter_takes_a_stable_sample(world) -> None:
    refused = world["lead"].post("/evals/queues/", {"name": "", "status": "bogus", "sample": "0"})
    html = refused.content.decode()
    assert refused.status_code == 422 and "score_configs" not in html.split("alert")[0]
    assert "choose at least one score config" in html and "from 1 to 100" in html
    full = make_queue(world, route="chat")
    assert full.items.count() == 4 and full.filters == {"route": "chat"}
    half = make_queue(world, name="half", route="chat", sample="50")
    chosen = set(half.items.values_list("log__request_id", flat=True))
    assert chosen == {f"r-{i}" for i in range(4) if queues.sampled(f"r-{i}", 50)}
    assert queues.fill(half) == 0  # the same sample again: nothing new
    logged("r-new", "q", "a")
    assert queues.fill(full) == 1


def test_two_reviewers_never_get_the_same_item(world) -> None:
    queue = make_queue(world, route="chat")
    first = world["editor"].get(f"/evals/queues/{queue.pk}/review/")
    second = world["editor2"].get(f"/evals/queues/{queue.pk}/review/")
    assert first.status_code == second.status_code == 302
    assert first["Location"] != second["Location"]
    # opening again gives the same item back (it is still theirs)
    assert world["editor"].get(f"/evals/queues/{queue.pk}/review/")["Location"] == first["Location"]
    # the other reviewer sees it read-only, and may not score it
    page = world["editor2"].get(first["Location"])
    assert "eddie has this item open" in page.content.decode()
    taken = world["editor2"].post(first["Location"], {"action": "submit", "score-quality": "4"})
    assert taken.status_code == 409 and not Score.objects.exists()
    # once the lock has run out, another reviewer may take it
    QueueItem.objects.filter(locked_by="eddie").update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    item = QueueItem.objects.get(locked_by="eddie")
    assert queues.take(item, "erin", 10)
