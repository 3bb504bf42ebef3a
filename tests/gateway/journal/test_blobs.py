"""The journal's writer stores a session's conversation once: each turn writes its new
parts only (a part it stored is never rewritten, its ``seen`` at most twice a day), a
batch that outlives its fence rolls back whole and leaves nothing remembered, and the
bytes a turn writes stay within twice what is new in it (counted, not timed)."""

from __future__ import annotations

import json

import pytest

from gateway import journal
from gateway.base import body_parts
from gateway.journal import Writer, blobs, rows
from gateway.models import BodyBlob, RequestBody, RequestLog, body_blobs
from tests.gateway.journal.sessions import DIALECTS, records, request

T0 = 1_900_000_000.0
HALF_DAY = body_blobs.TOUCH_SECONDS // 2


@pytest.fixture(autouse=True)
def bodies_on(settings) -> None:
    settings.SWITCHYARD_LOG_BODIES = True
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 256 * 1024


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The writer's clock, set by the test (``now[0]``)."""
    now = [T0]
    monkeypatch.setattr(blobs, "clock", lambda: now[0])
    return now


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what a batch does after its commit (the test's transaction never commits)."""

    def write(batch: list[journal.Record]) -> list[int]:
        with django_capture_on_commit_callbacks(execute=True):
            return journal.write_batch(batch)

    return write


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_turn_writes_only_its_new_parts(db, clock, committed, dialect) -> None:
    """After the first turn, a turn adds its new messages' nodes (Anthropic: and the
    last message again, its cache mark moved off it) and nothing for the system prompt
    and the tools."""
    added = {"openai": 2, "responses": 3, "anthropic": 3, "gemini": 2}[dialect]
    session = records(dialect, 8)
    committed(session[:2])
    for rec in session[2:]:
        before = BodyBlob.objects.count()
        committed([rec])
        assert BodyBlob.objects.count() - before == added


def test_a_part_known_stored_is_not_written_again(db, clock, committed) -> None:
    session = records("anthropic", 6)
    committed(session[:5])
    assert blobs.known() == BodyBlob.objects.count()
    parts = blobs.Parts()
    values = rows.body_values(session[4], 256 * 1024, (), parts=parts.add)
    assert values is not None and parts.nodes
    parts.write()
    assert parts.written == []  # every part of turn 4 is known: no statement at all


def test_a_batch_upserts_each_part_once_unless_known_fresh(db) -> None:
    """Nodes several bodies of a batch name are one part each, in the order first named;
    of them those known with ``seen`` at least ``start - TOUCH_SECONDS`` are not
    upserted, those unknown or known older are, in hash order."""
    body_parts.forget_layouts()
    messages = [{"c": "x" * 600}, {"c": "y" * 600}, {"c": "z" * 600}]
    one, two = (
        body_parts.split(json.dumps({"messages": messages[:count]}, separators=(",", ":")))
        for count in (2, 3)
    )
    assert one is not None and two is not None and one.nodes == two.nodes[:2]
    parts = blobs.Parts(start=T0)
    parts.add(one)
    parts.add(two)
    parts.add(one)
    assert list(parts.nodes.values()) == two.nodes
    fresh_from = int(T0) - body_blobs.TOUCH_SECONDS
    first, second, third = (node.hash for node in two.nodes)
    try:
        with blobs._lock:
            blobs._known.update({first: fresh_from, second: fresh_from - 1})
        parts.write()
        assert parts.written == sorted([second, third])
    finally:
        blobs.forget()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_batch_names_each_node_once_the_first_it_was_named(dialect: str) -> None:
    """A batch of a session's turns (out of order, one again, another session between):
    each node any of them names is named once, the node object first named kept (what
    a later split names again is not gone over a node at a time), in the order first
    named; a chain named in part is named from its first node not named yet."""
    turns = [3, 4, 6, 4, 2, 7]
    splits = []
    for turn in turns:  # (nothing remembered: each split's nodes its own objects)
        for model in ("agent-model", "another-session"):
            body_parts.forget_layouts()
            split = body_parts.split(request(dialect, turn, model=model).decode())
            assert split is not None
            splits.append(split)
    parts = blobs.Parts(start=T0)
    for split in splits:
        parts.add(split)
    first: dict[str, body_parts.Node] = {}
    for split in splits:
        for node in split.nodes:
            first.setdefault(node.hash, node)
    assert list(parts.nodes) == list(first)
    assert all(parts.nodes[key] is node for key, node in first.items())
    body_parts.forget_layouts()


def test_a_stored_part_is_never_rewritten_and_its_seen_moves_twice_a_day(
    db, clock, committed
) -> None:
    session = records("openai", 4)
    committed(session[:3])
    stored = dict(BodyBlob.objects.values_list("hash", "data"))
    assert set(BodyBlob.objects.values_list("seen", flat=True)) == {int(T0)}
    blobs.forget()  # another process (or a restart): it knows none of them
    clock[0] = T0 + HALF_DAY - 1  # not half a day old yet: left alone
    committed(session[3:])
    old = BodyBlob.objects.filter(hash__in=stored)
    assert set(old.values_list("seen", flat=True)) == {int(T0)}
    assert dict(old.values_list("hash", "data")) == stored
    blobs.forget()
    clock[0] = T0 + HALF_DAY + 1  # older than half a day: brought forward
    committed(records("openai", 4, session="s-2")[3:])
    shared = BodyBlob.objects.filter(hash__in=stored, parent=None)  # system, tools
    assert set(shared.values_list("seen", flat=True)) == {int(T0 + HALF_DAY + 1)}


def test_a_batch_past_its_fence_rolls_back_whole_and_is_not_remembered(
    db, clock, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    start = clock[0]

    def slow_body_values(*args, **kwargs):  # the batch's conversion takes eleven minutes
        clock[0] = start + body_blobs.WRITE_WITHIN_SECONDS + 60
        return rows.body_values(*args, **kwargs)

    monkeypatch.setattr("gateway.journal.sql.body_values", slow_body_values)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TimeoutError):
        journal.write_batch(records("gemini", 3))
    assert not RequestLog.objects.exists() and not RequestBody.objects.exists()
    assert not BodyBlob.objects.exists() and blobs.known() == 0


def test_the_writer_forgets_what_it_knew_when_a_write_fails(db, clock, committed) -> None:
    committed(records("anthropic", 3))
    assert blobs.known()

    def failing(batch: list[journal.Record]) -> list[int]:
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        Writer(failing, notify=False, prune_every=None)._write_guarded(records("openai", 1))
    assert blobs.known() == 0


def test_what_is_known_is_bounded(db, clock, committed, monkeypatch) -> None:
    monkeypatch.setattr(blobs, "KNOWN_MAX", 10)
    committed(records("openai", 12))
    assert blobs.known() == 10


# --- bytes a turn: the goal of issue #67 ----------------------------------------------------


def stored_bytes() -> int:
    """Bytes of every body column: RequestBody's texts and BodyBlob's rows."""
    total = 0
    for body in RequestBody.objects.values_list(
        "inbound_request", "upstream_request", "upstream_response", "outbound_response",
        "derived", "parts",
    ):  # fmt: skip
        total += sum(len((text or "").encode()) for text in body)
    for row in BodyBlob.objects.values_list("hash", "parent", "data"):
        total += sum(len((text or "").encode()) for text in row)
    return total


def new_bytes(rec: journal.Record, previous: journal.Record | None, translated: bool) -> int:
    """What a turn carries that the one before did not: each request body's top-level
    list elements past the prefix it shares with the previous turn's and top-level
    values that changed (compact JSON), and its answers (the upstream's only when
    translated: passed through, it is the caller's with the model renamed)."""
    names = ["inbound_request", "upstream_request"] if translated else ["inbound_request"]
    total = len(rec.outbound_response) + (len(rec.upstream_response) if translated else 0)
    for name in names:
        now = json.loads(getattr(rec, name))
        before = json.loads(getattr(previous, name)) if previous else {}
        for key, value in now.items():
            old = before.get(key)
            if isinstance(value, list) and isinstance(old, list):
                shared = 0
                while shared < min(len(value), len(old)) and value[shared] == old[shared]:
                    shared += 1
                value = value[shared:]
                total += sum(
                    len(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode())
                    for v in value
                )
            elif value != old:
                total += len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    return total


def worst_turn(session: list[journal.Record], translated: bool, write) -> float:
    """The largest ratio, over turns 2 on, of the bytes a turn stored to its new bytes."""
    write([session[0]])
    worst = 0.0
    for previous, rec in zip(session, session[1:], strict=False):
        before = stored_bytes()
        write([rec])
        worst = max(worst, (stored_bytes() - before) / new_bytes(rec, previous, translated))
    return worst


@pytest.mark.parametrize(
    ("dialect", "upstream"),
    [
        ("anthropic", None),
        ("openai", None),
        ("anthropic", "openai"),
        ("responses", None),
        ("gemini", "anthropic"),
    ],
)
def test_a_turn_stores_at_most_twice_what_is_new_in_it(
    db, clock, committed, dialect, upstream
) -> None:
    session = records(dialect, 12, upstream)
    assert worst_turn(session, upstream is not None, committed) <= 2.0


def test_stored_whole_a_turn_stores_many_times_what_is_new(db, monkeypatch, committed) -> None:
    """The measure is not vacuous: the journal before parts stored a turn's whole
    conversation again (what ``test_a_turn_stores_at_most_twice...`` rules out)."""
    monkeypatch.setattr(body_parts, "split", lambda text, **_: None)
    assert worst_turn(records("anthropic", 12), False, committed) > 5
