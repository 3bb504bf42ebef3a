"""``json_layout``: a body found in its text exactly when that text is orjson's, and a
changed body sent as views of it that are, joined, byte for byte what ``orjson.dumps``
writes (so json.loads reads the same too): for every text a matrix of encoders writes
(orjson's, the SDKs' compact json, json's spaces and escapes, indents, white space around,
a key twice) and every change a passthrough makes (values replaced, keys dropped, added,
renamed, reordered), and for the agent's body of the benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base.json_layout import Layout, Pieces, TooDeep

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import agent_body  # noqa: E402  (bench/agent_body.py: a coding agent's request)

LEVELS = 128
KEYS = st.sampled_from(["model", "messages", "tools", "a", "é", 'k"', "", "\u2028", "x/y"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["é", "😀", '\n"\\', "</script>", "\x7f", "\x1f", "\u2028"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=6)

# how callers write their bodies
ENCODERS = {
    "orjson": orjson.dumps,
    "sdk (compact, UTF-8)": lambda o: json.dumps(
        o, ensure_ascii=False, separators=(",", ":")
    ).encode(),
    "compact, ASCII escapes": lambda o: json.dumps(o, separators=(",", ":")).encode(),
    "json's spaces": lambda o: json.dumps(o, ensure_ascii=False).encode(),
    "white space around": lambda o: b" \r\n" + orjson.dumps(o) + b"\n\t ",
    "indented": lambda o: orjson.dumps(o, option=orjson.OPT_INDENT_2),
}


def canonical(raw: bytes, body: dict[str, Any]) -> bool:
    return raw.strip(b" \t\n\r") == orjson.dumps(body)


def with_a_key_twice(raw: bytes, key: str, value: Any) -> bytes:
    inner = raw.strip()[1:-1]
    return b"{" + inner + (b"," if inner else b"") + orjson.dumps({key: value})[1:]


def check(pieces: Pieces | None, changed: dict[str, Any], raw: bytes) -> None:
    if pieces is None:
        return
    joined = b"".join(pieces)
    assert joined == orjson.dumps(changed)  # the encode's very bytes
    assert json.loads(joined) == json.loads(orjson.dumps(changed))
    assert all(type(p) is bytes or p.obj is raw for p in pieces)  # views of the caller's
    if pieces.tail >= 0:
        assert pieces.head() + raw[pieces.tail :] == joined


def changes(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """What a passthrough does to a body: each member kept, replaced or dropped, a key
    renamed in place, members added, the order changed."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        action = draw(st.sampled_from(["keep", "keep", "replace", "drop", "rename"]))
        if action == "keep":
            out[key] = value
        elif action == "replace":
            out[key] = draw(VALUES)
        elif action == "rename":
            out[key + "_renamed"] = value
    for key in draw(st.lists(KEYS, max_size=2)):
        out[key] = draw(VALUES)
    if draw(st.booleans()):
        out = dict(reversed(list(out.items())))
    return out


@settings(max_examples=600, deadline=None)
@given(OBJECTS, st.sampled_from(sorted(ENCODERS)), st.data())
def test_a_layout_exactly_when_the_text_is_orjsons_and_pieces_are_the_encode(
    body: dict[str, Any], encoder: str, data: st.DataObject
) -> None:
    raw = ENCODERS[encoder](body)
    if body and data.draw(st.booleans()):  # a key twice (the last one counts)
        raw = with_a_key_twice(raw, next(iter(body)), data.draw(VALUES))
    parsed = orjson.loads(raw)
    layout = Layout.of(raw, parsed, LEVELS)
    assert (layout is not None) == canonical(raw, parsed)
    if layout is None:
        return  # the fall-back: encoded whole
    assert b"".join(layout.pieces(dict(parsed)) or [orjson.dumps(parsed)]) == orjson.dumps(parsed)
    for _ in range(3):
        changed = changes(data.draw, parsed)
        check(layout.pieces(changed), changed, raw)


def test_a_key_twice_is_never_laid_out() -> None:
    for raw in (b'{"model":"a","model":"a"}', b'{"model":"a","x":1,"model":"b"}'):
        assert Layout.of(raw, orjson.loads(raw), LEVELS) is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "m","x":1}',  # a space after a colon
        b'{"model":"caf\\u00e9"}',  # an escape orjson does not write
        b'{"model":"a\\/b"}',
        b'{"t":1e-05}',  # a float as Python's json writes it
        b'{"t":1.50}',
        b'{"model":"m"}x',
    ],
)
def test_texts_orjson_does_not_write_are_encoded_whole(raw: bytes) -> None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    assert Layout.of(raw, parsed, LEVELS) is None


def test_the_agents_body_goes_as_its_head_and_the_callers_bytes() -> None:
    raw = agent_body.openai_body()
    body = orjson.loads(raw)
    layout = Layout.of(raw, body, LEVELS)
    assert layout is not None
    sent = {**body, "model": "gpt-4o-mini-2024-07-18"}
    pieces = layout.pieces(sent)
    assert pieces is not None
    check(pieces, sent, raw)
    assert len(pieces) == 2 and pieces.head() == b'{"model":"gpt-4o-mini-2024-07-18"'
    assert pieces.tail == raw.index(b',"max_tokens"')
    streamed = {**sent, "stream": True, "stream_options": {"include_usage": True}}
    check(layout.pieces(streamed), streamed, raw)
    # a message changed in place of the list: that member is encoded, the rest is not
    masked = {**sent, "messages": [*body["messages"][:-1], {"role": "user", "content": "x"}]}
    check(layout.pieces(masked), masked, raw)


def test_nothing_of_the_text_left_is_no_pieces() -> None:
    raw = orjson.dumps({"model": "m", "x": [1, 2]}) + b" " * 20_000
    layout = Layout.of(raw, orjson.loads(raw), LEVELS)
    assert layout is not None
    assert layout.pieces({"model": "n", "x": [1, 2]}) is None  # (an equal list, not the one)


def nested(levels: int) -> dict[str, Any]:
    inner: Any = []
    for _ in range(levels - 2):
        inner = [inner]
    return {"model": "m", "messages": inner}


@pytest.mark.parametrize("levels", [LEVELS - 1, LEVELS, LEVELS + 1])
def test_depth_is_checked_as_the_whole_body_was(levels: int) -> None:
    body = nested(levels)
    raw = orjson.dumps(body)
    if levels > LEVELS:
        with pytest.raises(TooDeep):
            Layout.of(raw, body, LEVELS)
        with pytest.raises(TooDeep):  # however the text is written
            Layout.of(json.dumps(body).encode(), body, LEVELS)
    else:
        assert Layout.of(raw, body, LEVELS) is not None
