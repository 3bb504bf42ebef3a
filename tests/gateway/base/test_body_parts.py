"""A request body split into an envelope and parts stored once, and joined back: every
dialect's shape comes back byte for byte, a session's next turn shares the prefix it
repeats, and what is not canonical compact JSON is left whole."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base import body_parts
from tests.gateway.journal.sessions import DIALECTS, compact, request

# the keys each shape keeps its conversation, tools and system prompt under
PARTS = {
    "openai": {"messages", "tools"},
    "responses": {"instructions", "input", "tools"},
    "anthropic": {"system", "tools", "messages"},
    "gemini": {"contents", "systemInstruction", "tools"},
}


def stored(split: body_parts.Split) -> dict[str, tuple[str | None, str]]:
    return {n.hash: (n.parent, n.data.decode()) for n in split.nodes}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("turns", [0, 1, 7])
def test_every_dialects_body_is_joined_back_exactly(dialect: str, turns: int) -> None:
    """(At turn 0 the conversation is one short message, which stays in the envelope,
    but in OpenAI chat, whose system prompt is its first message.)"""
    text = request(dialect, turns).decode()
    split = body_parts.split(text)
    assert split is not None
    short = {"input", "contents"} | ({"messages"} if dialect == "anthropic" else set())
    assert set(split.refs) == PARTS[dialect] - (short if turns == 0 else set())
    assert len(split.envelope) < 400  # the model and the settings, not the conversation
    assert body_parts.join(split.envelope, split.refs, stored(split)) == text


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_next_turn_shares_the_prefix_it_repeats(dialect: str) -> None:
    """Turn 6 adds one call and its result (Responses: and a reasoning item) to turn 5;
    every node of turn 5 but the last message (Anthropic moves its cache mark) is a
    node of turn 6, and the new nodes are about the new messages' size."""
    before = body_parts.split(request(dialect, 5).decode())
    after = body_parts.split(request(dialect, 6).decode())
    assert before is not None and after is not None
    old = {n.hash for n in before.nodes}
    new = [n for n in after.nodes if n.hash not in old]
    added = {"openai": 2, "responses": 3, "anthropic": 3, "gemini": 2}[dialect]
    assert len(new) == added
    assert len(old - {n.hash for n in after.nodes}) == (1 if dialect == "anthropic" else 0)
    grown = len(request(dialect, 6)) - len(request(dialect, 5))
    assert sum(len(n.data) for n in new) <= 2 * grown


def test_a_node_is_its_content_after_its_prefix() -> None:
    """The same message after two different prefixes is two nodes; the same prefix is
    the same nodes whatever follows."""
    one = body_parts.split(compact({"messages": [{"a": "x" * 1200}, {"b": 1}]}).decode())
    two = body_parts.split(compact({"messages": [{"c": "y" * 1200}, {"b": 1}]}).decode())
    three = body_parts.split(compact({"messages": [{"a": "x" * 1200}, {"b": 2}]}).decode())
    assert one is not None and two is not None and three is not None
    assert one.nodes[1].data == two.nodes[1].data and one.nodes[1].hash != two.nodes[1].hash
    assert one.nodes[0] == three.nodes[0]
    assert one.nodes[1].parent == one.nodes[0].hash and one.nodes[0].parent is None
    assert one.refs["messages"] == [one.nodes[1].hash, 2]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"messages": [{"content": "x" * 2000}]}),  # spaces after the separators
        json.dumps({"messages": [{"content": "é" * 2000}]}, separators=(",", ":")),  # \u00e9
        '{"messages":[{"content":"' + "x" * 2000 + '"}],"model":"a","model":"b"}',  # twice
        '{"messages":[{"content":"' + "x" * 2000 + '"}]',  # cut
        json.dumps([{"content": "x" * 2000}], separators=(",", ":")),  # not an object
        '{"messages":[{"n":1.0e5,"content":"' + "x" * 2000 + '"}]}',  # a number re-spelled
        '{"model":"small","max_tokens":5}',  # nothing worth a part
        # as long as orjson's text but not it (1e5 is 100000.0 less five characters,
        # \u0041 is A and five more): in an element, a value, a small value
        '{"messages":[{"n":1e5,"content":"\\u0041' + "x" * 2000 + '"}]}',
        '{"system":{"n":1e5,"content":"\\u0041' + "x" * 2000 + '"}}',
        '{"n":1e5,"system":"\\u0041' + "x" * 2000 + '"}',
        '{"n":1.00e+05,"system":"' + "x" * 2000 + '"}',  # 100000.0 spelled otherwise
    ],
)
def test_what_is_not_canonical_is_stored_whole(text: str) -> None:
    assert body_parts.split(text) is None


def test_a_message_quoting_a_placeholder_is_joined_back_exactly() -> None:
    quoting = {"tools": [{"d": "t" * 600}], "messages": [{"content": "\x00tools" + "x" * 600}]}
    text = compact(quoting).decode()
    split = body_parts.split(text)
    assert split is not None
    assert body_parts.join(split.envelope, split.refs, stored(split)) == text


def test_a_placeholder_found_twice_in_the_envelope_keeps_the_body_whole() -> None:
    text = compact({"messages": [{"c": "x" * 1200}], "note": "\x00messages"}).decode()
    assert body_parts.split(text) is None


def test_a_part_not_stored_is_marked_and_the_rest_joined() -> None:
    text = request("anthropic", 3).decode()
    split = body_parts.split(text)
    assert split is not None
    nodes = stored(split)
    del nodes[split.refs["messages"][0]]  # the last message
    with pytest.raises(body_parts.MissingPart):
        body_parts.join(split.envelope, split.refs, nodes)
    marked = orjson.loads(body_parts.join_or_mark(split.envelope, split.refs, nodes))
    assert marked["messages"] == body_parts.MISSING
    assert marked["system"] == orjson.loads(text)["system"]


def test_a_list_longer_than_its_reference_says_is_missing() -> None:
    split = body_parts.split(request("openai", 2).decode())
    assert split is not None
    tip, count = split.refs["messages"]
    with pytest.raises(body_parts.MissingPart):
        body_parts.part_text([tip, count - 1], stored(split))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=12),
        st.lists(json_values, min_size=1, max_size=6) | json_values | st.text(min_size=300),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 2000),
)
def test_any_split_joins_back_exactly(body: dict[str, object], pad: int) -> None:
    body["pad"] = ["p" * pad]  # large enough to be split, often
    text = compact(body).decode()
    split = body_parts.split(text)
    if split is not None:
        assert body_parts.join(split.envelope, split.refs, stored(split)) == text


def fresh_split(text: str) -> body_parts.Split | None:
    """``split`` with nothing remembered of earlier texts."""
    body_parts.forget_layouts()
    return body_parts.split(text)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_split_from_a_remembered_turn_is_the_split_from_nothing(dialect: str) -> None:
    """A session's turns split one after another (each taking what the turn before
    shares with it: its parts not encoded or hashed again) give exactly the splits made
    with nothing remembered, also when another session comes between, a turn goes back
    (a client retrying an earlier request) or the same turn comes again."""
    order = [1, 2, 3, 5, 4, 4, 9]
    body_parts.forget_layouts()
    remembered = []
    for turn in order:
        remembered.append(body_parts.split(request(dialect, turn).decode()))
        body_parts.split(request(dialect, turn, model="another-session").decode())
    for turn, split in zip(order, remembered, strict=True):
        assert split is not None
        assert split == fresh_split(request(dialect, turn).decode())
    # taken, not made again: the same node objects as the turn before's
    first, second = remembered[0], remembered[1]
    assert first is not None and second is not None
    assert second.nodes[0] is first.nodes[0]


def test_what_a_remembered_text_shares_is_taken_only_where_it_lies_alike() -> None:
    """Texts sharing a prefix that ends inside a part, a list that grew shorter, a value
    that became a list and a list that fell under a part's size: each split is the
    split from nothing, and joins back."""
    big = "x" * 1100
    bodies = [
        {"model": "m", "messages": [{"a": big}, {"b": big}, {"c": big}], "sys": big},
        {"model": "m", "messages": [{"a": big}, {"b": big + "y"}, {"c": big}], "sys": big},
        {"model": "m", "messages": [{"a": big}, {"b": big}], "sys": big + "z"},
        {"model": "m", "messages": [{"a": "x" * 100}, {"b": 1}], "sys": [big, big]},
        {"model": "m", "messages": [{"a": "x" * 100}, {"b": 2}], "sys": {"t": big}},
        {"model": "m", "messages": [{"a": big}, {"b": big}, {"c": big}], "sys": big},
    ]
    body_parts.forget_layouts()
    for body in bodies:
        text = compact(body).decode()
        split = body_parts.split(text)
        assert split is not None
        assert body_parts.join(split.envelope, split.refs, stored(split)) == text
        assert split == fresh_split(text)
        body_parts.split(text)  # remembered again (fresh_split forgot)


def canonical(text: str) -> bool:
    """The old whole-body check: orjson writes the parsed text back as the very text."""
    try:
        return orjson.dumps(orjson.loads(text)) == text.encode()
    except orjson.JSONDecodeError:
        return False


@settings(max_examples=300, deadline=None)
@given(
    st.lists(json_values, min_size=1, max_size=5),
    st.integers(0, 10_000),
    st.sampled_from([" ", "\n", ",", ":", "]", "}", "1", '"', "\\u00e9", ".0"]),
    st.booleans(),
    st.booleans(),
)
def test_a_text_off_canonical_anywhere_is_stored_whole(
    messages: list[object], where: int, insert: str, replace: bool, remembered: bool
) -> None:
    """The check made piece by piece as the split walks the body refuses what the whole
    second encoding refused: a character put anywhere into a canonical body (whitespace,
    a separator, a digit, an escape), or in place of one, gives a split only where the text is still canonical,
    also when the text before it was remembered (its shared elements are not encoded
    again); and a split text is split as from nothing, and joins back."""
    body = {"model": "m", "messages": [*messages, "x" * 900], "tools": [{"t": "y" * 300}]}
    text = compact(body).decode()
    body_parts.forget_layouts()
    if remembered:
        assert body_parts.split(text) is not None
    at = where % (len(text) + 1)
    changed = text[:at] + insert + text[at + replace :]
    split = body_parts.split(changed)
    if split is None:
        assert not canonical(changed) or len(changed) < body_parts.SPLIT_MIN_CHARS
        return
    assert canonical(changed)
    assert body_parts.join(split.envelope, split.refs, stored(split)) == changed
    assert split == fresh_split(changed)


class _CountingJson:
    """orjson, with the length of each text ``loads`` parses noted."""

    JSONDecodeError = orjson.JSONDecodeError
    dumps = staticmethod(orjson.dumps)

    def __init__(self) -> None:
        self.parsed: list[int] = []

    def loads(self, text: bytes) -> object:
        self.parsed.append(len(text))
        return orjson.loads(text)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_next_turn_is_parsed_only_past_what_it_shares(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session's next turn is not parsed whole (150 KB: 140 us of an agent's request):
    what it shares with the turn before is taken as that split left it, and only its
    new messages (and what follows them) are parsed; the split is the one from nothing."""
    counting, text, split = _next_turn_parsed(dialect, monkeypatch)
    assert counting.parsed and sum(counting.parsed) < len(text.encode()) * 0.4
    assert split is not None and split == fresh_split(text)


def _next_turn_parsed(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[_KeptJson, str, body_parts.Split | None]:
    """Turn 9 of ``dialect``'s session split after turn 8: what it parsed, its text and
    its split."""
    body_parts.forget_layouts()
    body_parts.split(request(dialect, 8).decode())
    kept = _KeptJson()
    monkeypatch.setattr(body_parts, "orjson", kept)
    text = request(dialect, 9).decode()
    split = body_parts.split(text)
    monkeypatch.undo()
    return kept, text, split


class _KeptJson(_CountingJson):
    """orjson, with each text ``loads`` parses kept too."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[bytes] = []

    def loads(self, text: bytes) -> object:
        self.texts.append(text)
        return super().loads(text)


@pytest.mark.parametrize(
    "tail",
    [
        ',"model":"again"}',  # a key of the shared prefix written again
        ',"\\u0000":[1,2]}',  # the key the rest is parsed under
        ',"\\u0000":"x"}',
        ',"extra":[' + ",".join(['"' + "e" * 300 + '"'] * 2) + "]}",
        "}",
    ],
)
@pytest.mark.parametrize("kept", [3, 2, 1, 0])
def test_a_rest_parsed_alone_gives_the_split_from_nothing(
    tail: str, kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever follows the shared prefix (the turn before's messages and one more, or
    fewer of them, or none: a list closed at once; a key written twice, the key the rest
    is parsed under): only the rest is parsed, and the split is exactly the one from
    nothing; a text that is no canonical body (a duplicate key) is stored whole."""
    big = "m" * 1100
    shared = [{"a": big}, {"b": big}, {"c": big}]
    body_parts.forget_layouts()
    before = {"model": "m", "head": big, "messages": shared, "s": big}
    assert body_parts.split(compact(before).decode())
    messages = [*shared[:kept], {"d": big}] if kept else []
    text = compact({"model": "m", "head": big, "messages": messages}).decode()[:-1] + tail
    counting = _CountingJson()
    monkeypatch.setattr(body_parts, "orjson", counting)
    split = body_parts.split(text)
    monkeypatch.undo()
    assert counting.parsed[0] < len(text.encode())  # (the rest, first)
    assert split == fresh_split(text)
    if split is not None:
        assert body_parts.join(split.envelope, split.refs, stored(split)) == text


def test_a_list_taken_in_part_that_falls_under_a_parts_size_is_made_from_nothing() -> None:
    """A list whose first elements lie in the shared prefix but that is now too short
    to be a part stays in the envelope whole: made from the text, not from what was
    taken (which the envelope cannot hold)."""
    big = "m" * 1100
    body_parts.forget_layouts()
    before = {"model": "m", "head": big, "messages": [{"a": 1}, {"b": 2}, {"c": big}]}
    assert body_parts.split(compact(before).decode())
    text = compact({"model": "m", "head": big, "messages": [{"a": 1}, {"b": 2}]}).decode()
    split = body_parts.split(text)
    assert split is not None and split == fresh_split(text)
    assert '"messages":[{"a":1},{"b":2}]' in split.envelope


# what follows each dialect's conversation in ``request``: moved as the conversation grows
AFTER_THE_CONVERSATION = {
    "openai": ("tools",),
    "responses": ("tools",),
    "gemini": ("systemInstruction", "tools"),
}


@pytest.mark.parametrize("dialect", sorted(AFTER_THE_CONVERSATION))
def test_what_follows_the_conversation_is_taken_where_it_moved(dialect: str) -> None:
    """A list or value after the conversation (OpenAI chat's tools, as the gateway's
    translation writes them) moves as the conversation grows: the next turn takes it
    from the turn before at its new offset, its nodes not encoded or hashed again (the
    same node objects), and the split is the one from nothing."""
    body_parts.forget_layouts()
    before = body_parts.split(request(dialect, 5).decode())
    text = request(dialect, 6).decode()
    after = body_parts.split(text)
    assert before is not None and after is not None
    assert after == fresh_split(text)
    old = {node.hash: node for node in before.nodes}
    for key in AFTER_THE_CONVERSATION[dialect]:
        assert after.refs[key] == before.refs[key]
        tip = after.refs[key][0]
        assert [n for n in after.nodes if n.hash == tip][0] is old[tip]
    body_parts.forget_layouts()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from([" ", ",", "]", "}", "1", '"', "\\u00e9", "x", '{"t":"y"}']),
    st.booleans(),
    st.sampled_from(["tools", "system", "both"]),
)
def test_a_moved_value_changed_anywhere_gives_the_split_from_nothing(
    where: int, insert: str, replace: bool, after: str
) -> None:
    """The turn after a remembered one, its list and value after the conversation moved,
    with a character put anywhere into it (or in place of one): the split is the one
    made from nothing (None where the text is not canonical), and joins back."""
    tools = [{"t": "y" * 300}, {"u": "z" * 300}]
    system = {"text": "s" * 400}
    extra: dict[str, object] = {
        "tools": {"tools": tools},
        "system": {"system": system},
        "both": {"tools": tools, "system": system},
    }[after]
    messages: list[object] = [{"m": "a" * 300}, {"m": "b" * 300}]
    body_parts.forget_layouts()
    assert body_parts.split(compact({"model": "m", "messages": messages, **extra}).decode())
    grown = compact({"model": "m", "messages": [*messages, {"m": "c"}], **extra}).decode()
    at = where % (len(grown) + 1)
    changed = grown[:at] + insert + grown[at + replace :]
    split = body_parts.split(changed)
    fresh = fresh_split(changed)
    assert split == fresh
    if split is not None:
        assert canonical(changed)
        assert body_parts.join(split.envelope, split.refs, stored(split)) == changed


# a key only each dialect's tools hold (not the conversation)
TOOLS_MARK = {
    "openai": b'"parameters"',
    "responses": b'"parameters"',
    "gemini": b"functionDeclarations",
}


@pytest.mark.parametrize("dialect", sorted(AFTER_THE_CONVERSATION))
def test_what_follows_the_conversation_is_not_parsed_again(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A next turn that ends as the turn before did after its conversation (the tools,
    the settings) has only its new messages parsed: what follows is taken from the turn
    before, moved; the split is the one from nothing."""
    kept, text, split = _next_turn_parsed(dialect, monkeypatch)
    assert kept.texts and not any(TOOLS_MARK[dialect] in t for t in kept.texts)
    assert split is not None and split == fresh_split(text)


@pytest.mark.parametrize(
    "after",
    [
        ',"tools":[' + ",".join(['"' + "t" * 300 + '"'] * 2) + "]}",
        ',"n":1,"tools":[' + ",".join(['"' + "t" * 300 + '"'] * 2) + '],"s":"' + "s" * 300 + '"}',
    ],
)
@pytest.mark.parametrize(
    "grown",
    [
        ',{"d":"' + "m" * 1100 + '"}]',  # one more message
        "]",  # none (the list as it was)
        ']],"x":[1',  # the list closed sooner, a key between
        '],"tools":[1]',  # a key written again
        ',{"d":1}],"tools":[]',
        ',{"d":1}],"x":1',  # a key between the list and the tail
        ',{"d":1}],"\\u0000":[5]',  # the key the rest is parsed under
        ',{"d":1}]',
    ],
)
def test_a_tail_taken_from_the_turn_before_gives_the_split_from_nothing(
    after: str, grown: str
) -> None:
    """What a next turn adds before a tail it ends with as the turn before did (one more
    message, none, or text that closes the list sooner and writes keys between or a key
    again): the split is exactly the one from nothing, or none where that is none."""
    big = "m" * 1100
    shared = '{"model":"m","messages":[{"a":"' + big + '"},{"b":"' + big + '"}'
    body_parts.forget_layouts()
    assert body_parts.split(shared + "]" + after)
    text = shared + grown + after
    split = body_parts.split(text)
    assert split == fresh_split(text)
    if split is not None:
        assert body_parts.join(split.envelope, split.refs, stored(split)) == text


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_remembered_split_holds_its_parts_at_their_own_size(dialect: str) -> None:
    """The parts of the texts split recently are kept for the next turn (``_recent``,
    32 sessions): each at its own size, not in the 4 KiB block ``orjson.dumps`` writes
    into (a 150 KB agent's request held 1.5 MB that way, 47 MB for 32 sessions)."""
    import tracemalloc

    body_parts.forget_layouts()
    text = request(dialect, 40).decode()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        split = body_parts.split(text)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        body_parts.forget_layouts()
    assert split is not None and len(split.nodes) > 40
    parts = sum(len(node.data) for node in split.nodes)
    # the text's bytes (the layout's), the parts', and per node its tuple, hash and offsets
    assert held < 2 * len(text) + parts + 400 * len(split.nodes), (held, len(text), parts)
