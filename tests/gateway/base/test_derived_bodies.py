"""A passed-through body is stored once: the upstream's request (the caller's with the
model renamed) and the upstream's stream (the caller's answer with the model named back)
are kept as a recipe over their neighbour, checked when written, so every reader gets
the very text that was sent, and a body the recipe would not remake is stored whole."""

from __future__ import annotations

import json
import re

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway import journal
from gateway.base.derived_bodies import MIN_CHARS, SCAN_FROM, recipe, renamed, renames_to
from gateway.journal import Record
from gateway.models import RequestBody, RequestLog

TOOLS = [{"type": "function", "function": {"name": f"t{i}", "parameters": {}}} for i in range(9)]


def request_body(model: str, **more: object) -> bytes:
    """A caller's request as the SDKs write it (compact JSON), long enough to derive."""
    messages = [{"role": "user", "content": "say hello " * 40}]
    return json.dumps(
        {"model": model, "messages": messages, "tools": TOOLS, **more}, separators=(",", ":")
    ).encode()


def stream_body(model: str, spaced: bool = False) -> bytes:
    sep = (", ", ": ") if spaced else (",", ":")
    chunks = [
        {"id": "c1", "model": model, "choices": [{"index": 0, "delta": {"content": f"w{n} "}}]}
        for n in range(20)
    ]
    return (
        b"".join(
            b"data: " + json.dumps(chunk, separators=sep).encode() + b"\n\n" for chunk in chunks
        )
        + b"data: [DONE]\n\n"
    )


def test_a_request_with_its_model_renamed_is_a_recipe() -> None:
    source, target = request_body("fast").decode(), request_body("gpt-4o-mini").decode()
    assert recipe(target, source) == ('"fast"', '"gpt-4o-mini"')
    assert renamed(source, '"fast"', '"gpt-4o-mini"') == target


@pytest.mark.parametrize("spaced", [False, True])
def test_a_stream_with_its_model_renamed_in_every_event_is_a_recipe(spaced: bool) -> None:
    source, target = stream_body("fast", spaced).decode(), stream_body("m-1", spaced).decode()
    found = recipe(target, source)
    assert found is not None and renamed(source, *found) == target


def test_what_the_recipe_would_not_remake_is_stored_whole() -> None:
    source = request_body("fast").decode()
    assert recipe(request_body("m", stream=True).decode(), source) is None  # more changed
    assert recipe(request_body("fast", n=2).decode(), source) is None  # same model
    assert recipe('{"model":"m"}', '{"model":"fast"}') is None  # too short to matter
    assert recipe(source.replace('"model":"fast"', '"model":"m"', 1), "") is None
    # the old name elsewhere in the text, written as a key: renamed too, so not remade
    tricky = request_body("fast", metadata={"model": "fast"}).decode()
    changed = tricky.replace('"model":"fast"', '"model":"m"', 1)
    assert recipe(changed, tricky) is None
    assert recipe(source, source) == ("", "")  # the same text


@settings(max_examples=200, deadline=None)
@given(
    old=st.text(min_size=1, max_size=12),
    new=st.text(min_size=1, max_size=12),
    words=st.lists(st.text(max_size=30), min_size=1, max_size=40),
    keys=st.lists(st.sampled_from(["model", "text", "Model", "model "]), max_size=6),
)
def test_a_recipe_found_always_remakes_the_text(old, new, words, keys) -> None:
    """Whatever two bodies are (names and keys that look alike, the names inside
    texts), a recipe found remakes the one from the other to the character."""
    body = {"model": old, "parts": words, "more": [{key: old} for key in keys]}
    source = orjson.dumps(body).decode() + " " * MIN_CHARS
    body["model"] = new
    target = orjson.dumps(body).decode() + " " * MIN_CHARS
    found = recipe(target, source)
    if found is not None:
        assert renamed(source, *found) == target
    if "model" not in keys and old != new:
        assert found is not None  # the one renamed key: a recipe


# pieces a text is made of: the key compact and spaced, values and their lookalikes
# (a name holding "model" or ending in model, an escaped quote, a name cut short)
VALUES = ['"fast"', '"m-1"', '"a\\"model"', '"model"', '"x\\"y"', '"fa"', '"fast\\""', '""']
VALUES += ['"my-model"', '"model-2"']
PIECES = [
    '"model":',
    '"model": ',
    '"model":  ',
    'model"',
    'model":',
    'model": ',
    ":",
    " ",
    '"',
    "\\",
]


def old_recipe(target: str, source: str) -> tuple[str, str] | None:
    """``recipe`` as it was, the renamed text made and compared whole."""
    if len(target) < MIN_CHARS or not source:
        return None
    if target == source:
        return "", ""
    if target[-32:] != source[-32:]:
        return None
    in_target = re.search(r'"model": ?("(?:[^"\\]|\\.)*")', target)
    in_source = re.search(r'"model": ?("(?:[^"\\]|\\.)*")', source)
    if in_target is None or in_source is None:
        return None
    old, new = in_source.group(1), in_target.group(1)
    if old == new or renamed(source, old, new) != target:
        return None
    return old, new


@settings(max_examples=3000, deadline=None)
@given(
    old=st.sampled_from(VALUES + ["x", ""]),
    new=st.sampled_from(VALUES + ["y", ""]),
    picks=st.lists(st.integers(0, len(PIECES) + 3), max_size=24),
    edit=st.none() | st.tuples(st.integers(0, 400), st.sampled_from(PIECES + VALUES + [""])),
    long=st.booleans(),
)
@example('"fast"', '"m-1"', [0, 10, 4, 10], None, False)  # "model":"fast"model":"fast": they touch
@example('"fast"', '"a\\"model"', [0, 10, 6, 7, 10], None, False)  # the first makes a second
@example('"fast"', '"m-1"', [1, 10, 4, 10], None, False)  # a spaced one's quote opens the next
def test_renames_to_decides_as_the_renamed_text_does(
    old: str, new: str, picks: list[int], edit: tuple[int, str] | None, long: bool
) -> None:
    """Told stretch by stretch, whether ``target`` is ``source`` renamed is what making
    the renamed text and comparing it decides: with the value there 0, 1 or many times,
    compact or spaced, values that overlap or touch (``"model":"x""model":"x"``), a
    rename that makes another (``"model":"a\"model": "x"``), escaped quotes, and
    ``target`` renamed exactly or with one piece put in or taken out anywhere; the
    key found by Hyperscan in a ``long`` text, by str.find in a short one."""
    pieces = [*PIECES, old, old, new, new]
    source = "".join(pieces[pick] for pick in picks) + ("z" * SCAN_FROM if long else "")
    target = renamed(source, old, new)
    if edit is not None:
        at, piece = edit
        at %= len(target) + 1
        target = target[:at] + piece + target[at + (not piece) :]
    assert renames_to(source, target, old, new) == (renamed(source, old, new) == target)


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(0, 5),
    old=st.sampled_from(VALUES[:2]),
    new=st.sampled_from(VALUES[1:3]),
    filler=st.text(alphabet='x "\\:model', max_size=40),
    spaced=st.booleans(),
    edit=st.none() | st.integers(0, 10_000),
)
def test_recipe_finds_what_it_found_before(
    count: int, old: str, new: str, filler: str, spaced: bool, edit: int | None
) -> None:
    """A body long enough to derive, naming its model 0 to 5 times among lookalikes:
    ``recipe`` finds exactly what it found when it made the renamed text whole."""
    key = '"model": ' if spaced else '"model":'
    source = "{" + (filler + key + old + ",") * count + '"t":"' + "z" * MIN_CHARS + '"}'
    target = renamed(source, old, new)
    if edit is not None:
        at = edit % len(target)
        target = target[:at] + "q" + target[at + 1 :]
    assert recipe(target, source) == old_recipe(target, source)
    if count and edit is None and old != new:
        assert recipe(target, source) in {(old, new), None}


def record(inbound: bytes, upstream: bytes, **more: object) -> Record:
    return Record(
        request_id="r-derived",
        inbound_request=inbound,
        upstream_request=upstream,
        upstream_response=stream_body("m-1"),
        outbound_response=stream_body("fast"),
        **more,
    )


def test_the_row_stores_each_derived_body_empty_with_its_recipe() -> None:
    values = journal.body_values(record(request_body("fast"), request_body("m-1")), 1 << 20)
    assert values is not None
    inbound, upstream_request, upstream_response, outbound, truncated, derived, parts = values
    assert parts is None  # (not asked to split)
    assert upstream_request == upstream_response == "" and not truncated
    assert inbound == request_body("fast").decode() and outbound == stream_body("fast").decode()
    assert orjson.loads(derived) == {
        "upstream_request": ["inbound_request", '"fast"', '"m-1"'],
        "upstream_response": ["outbound_response", '"fast"', '"m-1"'],
    }
    cut = journal.body_values(record(request_body("fast"), request_body("m-1")), 600)
    assert cut is not None and cut[4] is True and cut[5] is None  # a cut row: stored whole


@pytest.mark.django_db(transaction=True)
def test_every_reader_gets_the_bodies_whole() -> None:
    sent = request_body("m-1", stream=True)  # differs by more than the model: stored whole
    (plain,) = journal.write_batch([record(request_body("fast"), request_body("m-1"))])
    (other,) = journal.write_batch([record(request_body("fast"), sent)])
    stored = dict(
        RequestBody.objects.values_list("log_id", "upstream_request").filter(log_id=plain)
    )
    assert stored == {plain: ""}  # the row itself holds the recipe, not the text
    for body in (
        RequestBody.objects.get(log_id=plain),
        RequestLog.objects.get(id=plain).body,
        RequestBody.objects.only("upstream_request", "upstream_response").get(log_id=plain),
        RequestBody.objects.defer("inbound_request", "derived").get(log_id=plain),
    ):
        assert body.upstream_request == request_body("m-1").decode()
        assert body.upstream_response == stream_body("m-1").decode()
        assert body.inbound_request == request_body("fast").decode()
        assert body.outbound_response == stream_body("fast").decode()
    whole = RequestBody.objects.get(log_id=other)
    assert whole.upstream_request == sent.decode() and whole.derived is not None
    assert orjson.loads(whole.derived) == {
        "upstream_response": ["outbound_response", '"fast"', '"m-1"']
    }
