"""Retention of the body parts stored once: a part no log left can name is deleted, one
a log names never is, whatever the order of writes and prunes (the fence,
``gateway.models.body_blobs``); the command and the writer's round prune them."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway import journal
from gateway.base import body_parts
from gateway.journal import blobs, pruning
from gateway.models import BodyBlob, RequestBody, RequestLog, body_blobs
from tests.gateway.journal.sessions import records
from tests.gateway.models.test_body_blobs import whole

T0 = 1_900_000_000.0
DAY = 24 * 3600.0
FIELDS = ("inbound_request", "upstream_request", "upstream_response", "outbound_response")


@pytest.fixture(autouse=True)
def bodies_on(settings) -> None:
    settings.SWITCHYARD_LOG_BODIES = True
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 256 * 1024


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [T0]
    monkeypatch.setattr(blobs, "clock", lambda: now[0])
    return now


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def write(batch: list[journal.Record]) -> list[int]:
        with django_capture_on_commit_callbacks(execute=True):
            return journal.write_batch(batch)

    return write


def reachable() -> set[str]:
    """Every part the stored bodies name, through their lists."""
    tips = [
        tip
        for parts in RequestBody.objects.exclude(parts=None).values_list("parts", flat=True)
        for by_key in body_blobs.refs_of(parts).values()
        for tip in body_parts.tips(by_key)
    ]
    return set(body_blobs.nodes_of(tips))


def expire(before: float) -> None:
    """The logs' retention at the given moment (``journal.prune`` reads the real clock)."""
    RequestLog.objects.filter(created_at__lt=datetime.fromtimestamp(before, UTC)).delete()


def test_parts_no_log_names_are_pruned_and_the_rest_kept(db, clock, committed) -> None:
    committed(records("anthropic", 6, session="old"))
    clock[0] = T0 + 10 * DAY
    committed([r for r in records("openai", 6, session="new")])
    new_ids = list(RequestLog.objects.filter(session="new").values_list("id", flat=True))
    for rec in RequestLog.objects.filter(session="new"):
        rec.created_at = datetime.fromtimestamp(T0 + 10 * DAY, UTC)
        rec.save(update_fields=["created_at"])
    expire(T0 + 5 * DAY)
    assert set(RequestLog.objects.values_list("id", flat=True)) == set(new_ids)
    named = reachable()
    assert set(BodyBlob.objects.values_list("hash", flat=True)) > named
    deleted = pruning.prune_parts(batch_size=3, now=T0 + 10 * DAY)
    assert deleted > 0
    assert set(BodyBlob.objects.values_list("hash", flat=True)) == named


def test_a_part_pruned_after_a_batch_started_is_written_again(db, clock, committed) -> None:
    """The pruner deletes a stale part between a batch's start and its transaction (on
    SQLite it cannot run inside it): the batch's upsert stores it again."""
    committed(records("gemini", 4))
    RequestLog.objects.all().delete()
    blobs.forget()
    clock[0] = T0 + 3 * DAY
    real_write = blobs.Parts.write

    def pruner_first(self: blobs.Parts) -> None:
        assert pruning.prune_parts(now=T0 + 3 * DAY) > 0  # every part: no log is left
        real_write(self)

    session = records("gemini", 5)
    for rec in session:
        rec.created_at = T0 + 3 * DAY
    blobs.Parts.write = pruner_first  # type: ignore[method-assign]
    try:
        (log_id,) = committed([session[-1]])
    finally:
        blobs.Parts.write = real_write  # type: ignore[method-assign]
    body = RequestBody.objects.get(log_id=log_id)
    assert {n: getattr(body, n) for n in FIELDS} == whole(session[-1])


def test_a_part_a_log_names_is_kept_however_long_ago_it_was_written(db, clock, committed) -> None:
    """A turn written days after the first names the session's first parts; those the
    writer knows are not upserted again within half a day, and none is pruned while a
    log names it."""
    session = records("openai", 4)
    committed(session[:2])
    for turn, rec in enumerate(session[2:], 2):
        clock[0] = T0 + turn * 3 * DAY
        rec.created_at = clock[0]
        committed([rec])
        expire(clock[0] - 2 * DAY)  # only this turn's log is left
        pruning.prune_parts(now=clock[0])
        body = RequestBody.objects.get(log__request_id=rec.request_id)
        assert {n: getattr(body, n) for n in FIELDS} == whole(rec)


def test_a_part_named_from_memory_outlives_the_log_that_wrote_it(db, clock, committed) -> None:
    """Turns 0-2 write the session's first parts; turn 3, hours later, names them from
    the writer's memory without touching them. Once turns 0-2 are pruned, the parts'
    ``seen`` is older than every log left, and still they stay: the bound lies a day
    and an hour further back."""
    session = records("anthropic", 4)
    committed(session[:3])
    clock[0] = T0 + 0.4 * DAY
    session[3].created_at = clock[0]
    committed(session[3:])
    assert set(BodyBlob.objects.values_list("seen", flat=True)) == {int(T0), int(clock[0])}
    expire(T0 + 0.2 * DAY)
    assert RequestLog.objects.count() == 1
    pruning.prune_parts(now=T0 + 2.3 * DAY)
    body = RequestBody.objects.get()
    assert {n: getattr(body, n) for n in FIELDS} == whole(session[3])


@pytest.mark.parametrize("seed", range(6))
def test_no_order_of_writes_and_prunes_loses_a_part_a_log_names(db, clock, committed, seed) -> None:
    """Random steps: time moves on (minutes to days), a session's next turn is written
    (created up to an hour before the writer's clock, as a queued record is), a process
    forgets what it knew (another worker, a restart), logs past two days of retention are
    pruned and then the parts. After every step every log reads whole, and what a prune
    leaves is no more than what logs name and what was touched within a day and an hour
    of the oldest log."""
    rng = random.Random(seed)
    shapes = [("anthropic", None), ("openai", "gemini"), ("responses", None)]
    sessions = {f"s{i}": records(d, 14, u, session=f"s{i}") for i, (d, u) in enumerate(shapes)}
    turn = dict.fromkeys(sessions, 0)
    expected: dict[str, dict[str, str]] = {}
    for _ in range(40):
        step = rng.random()
        if step < 0.3:
            clock[0] += rng.choice([60.0, 3600.0, 0.6 * DAY, 1.5 * DAY, 3 * DAY])
        elif step < 0.75:
            name = rng.choice([n for n in sessions if turn[n] < 14] or list(sessions))
            if turn[name] >= 14:
                continue
            rec = sessions[name][turn[name]]
            rec.created_at = clock[0] - rng.uniform(0, 3600)
            turn[name] += 1
            committed([rec])
            expected[rec.request_id] = whole(rec)
        elif step < 0.85:
            blobs.forget()
        else:
            expire(clock[0] - 2 * DAY)
            pruning.prune_parts(batch_size=7, now=clock[0])
            oldest = min(RequestLog.objects.values_list("created_at", flat=True), default=None)
            bound = body_blobs.prune_bound(oldest.timestamp() if oldest else None, clock[0])
            assert not BodyBlob.objects.filter(seen__lt=bound).exists()
        for body in RequestBody.objects.select_related("log"):
            shown = {n: getattr(body, n) for n in FIELDS}
            assert shown == expected[body.log.request_id], (seed, body.log.request_id)


def test_the_writers_round_prunes_the_parts(db, clock, committed, monkeypatch) -> None:
    # (a round closes stale connections first: not the test's, inside its transaction)
    monkeypatch.setattr(pruning, "close_old_connections", lambda: None)
    clock[0] = time.time() - 40 * DAY  # (the round reads the real clock)
    committed(records("anthropic", 3))
    RequestLog.objects.update(created_at=datetime.now(UTC) - timedelta(days=40))
    assert pruning.prune_round(timedelta(days=30), max_batches=5) == 3
    assert not BodyBlob.objects.exists()
