"""Records as database rows (``gateway.journal.rows``): a body stored as text (utf-8 with
replacements, secrets redacted before the cut, cut at the limit with a marker), a
record's bodies converted once each, equal ones alike, a record that gave its bodies
up stored with a note; a log's values cut to their columns and counts to their ranges,
through the backend's adapters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import journal
from gateway.base import body_parts
from gateway.journal import Record, background, rows
from gateway.journal.record import Spliced
from gateway.telemetry import redaction
from tests.gateway.journal.records import full_record


def test_body_over_the_limit_is_cut_with_a_marker() -> None:
    text, truncated = journal.body_text(b"a" * 100, limit=10)
    assert truncated
    assert text.startswith("a" * 10) and "a" * 11 not in text
    assert "truncated" in text


def test_body_under_the_limit_is_kept_whole() -> None:
    assert journal.body_text(b'{"x": 1}', limit=100) == ('{"x": 1}', False)
    assert journal.body_text(None, limit=100) == ("", False)
    assert journal.body_text({"a": [1]}, limit=100) == ('{"a":[1]}', False)


def test_invalid_utf8_is_stored_with_replacement_characters() -> None:
    text, _ = journal.body_text(b"ok \xff\xfe end", limit=100)
    assert text == "ok \ufffd\ufffd end"


def test_secrets_are_redacted_from_bodies() -> None:
    master = "sy-test-master-key"
    provider = "upstream-literal-secret-123"
    body = (
        b'{"messages":[{"role":"user","content":"my key is sy-abcdefghijklmnopqrstuvwxyz012 '
        b'and sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUV"}],"headers":{"Authorization":"Bearer xyz12345678",'
        b'"x-api-key":"whatever"},"note":"' + master.encode() + b" " + provider.encode() + b'"}'
    )
    text, _ = journal.body_text(body, limit=10_000, secrets=[provider, master])
    for secret in (
        master,
        provider,
        "sy-abcdefghijklmnopqrstuvwxyz012",
        "sk-ant-api03",
        "xyz12345678",
        "whatever",
    ):
        assert secret not in text
    assert "[redacted]" in text and "my key is" in text


def test_a_secret_straddling_the_cut_is_redacted_first() -> None:
    secret = "provider-secret-abcdefgh"
    text, truncated = journal.body_text(b"x" * 10 + secret.encode(), limit=20, secrets=[secret])
    assert truncated and "provider-secret"[:8] not in text


def test_equal_bodies_of_one_record_are_both_stored_redacted() -> None:
    same = b'{"echo":"sk-' + b"z" * 30 + b'"}'
    rec = Record(request_id="r", inbound_request=b"{}", upstream_response=same)
    rec.outbound_response = bytes(same)  # equal, not the same object
    values = journal.body_values(rec, limit=1000)
    assert values is not None
    inbound, upstream_request, upstream_response, outbound, truncated, derived, parts = values
    assert upstream_response == outbound == '{"echo":"[redacted]"}'  # short: stored whole
    assert (inbound, upstream_request, truncated, derived, parts) == ("{}", "", False, None, None)


SHORT_BODIES: list[bytes | None] = [
    b'{"model":"m","messages":[{"role":"user","content":"hi"}]}',
    b'{"model":"m","messages":[{"role":"user","content":"my key is sk-abcdefghijklmnopqrst"}]}',
    b'{"choices":[{"message":{"content":"Bearer abcdefgh12345678"}}]}',
    b'{"mcp_servers":[{"authorization_token":"tok-123456789"}]}',
    b'{"tools":[{"type":"mcp","server_url":"https://u:p@h/sse"}]}',
    b"not utf-8 \xff\xfe",
    b"a NUL \x00 here",
    b"the configured upstream-literal-secret-123 here",
    b"\xc3",  # (a character cut: only its first byte)
    b"",
    None,
    b'{"content":"' + b"a longer answer, " * 70 + b'"}',  # (joined: past the scan's start)
    b'{"content":"' + b"a longer answer, " * 70 + b'Bearer abcdefgh12345678"}',
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(SHORT_BODIES), min_size=4, max_size=4), st.sampled_from((20, 10_000))
)
def test_short_bodies_made_at_once_are_those_made_one_by_one(
    bodies: list[bytes | None], limit: int
) -> None:
    secrets = ("upstream-literal-secret-123",)
    rec = Record("r")
    for name, body in zip(rows.BODY_FIELDS, bodies, strict=True):
        setattr(rec, name, body)
    texts, truncated, clean = rows._texts(rec, limit, secrets, {})
    one_by_one = [rows._body_text(body, limit, secrets) for body in bodies]
    assert texts == [text for text, _, _ in one_by_one]
    assert truncated == any(cut for _, cut, _ in one_by_one)
    assert clean == {}  # (short texts are never scanned: none is vouched clean)


def test_a_short_questions_bodies_are_made_at_once_and_others_one_by_one() -> None:
    question = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
    short = Record("r", inbound_request=question, outbound_response=b'{"a":1}')
    assert rows._short_texts(short, 10_000, ()) == [question.decode(), "", "", '{"a":1}']
    for odd in SHORT_BODIES[1:9]:
        assert odd is not None
        rec = Record("r", inbound_request=question, upstream_response=odd)
        assert rows._short_texts(rec, 10_000, ("upstream-literal-secret-123",)) is None, odd
    for body in (b"x" * redaction.SCAN_FROM, b"x" * 20, {"an": "object"}, "text"):
        rec = Record("r", inbound_request=body)
        assert rows._short_texts(rec, 20, ()) is None, body


def test_a_record_without_its_bodies_is_stored_with_a_note() -> None:
    rec = Record(request_id="r", inbound_request=b'{"q": 1}', bodies_shed=True)
    values = rows.body_values(rec, 1000)
    assert values == (rows.SHED_NOTE, "", "", "", True, None, None)


def logged(rec: Record, secrets=()) -> dict:  # type: ignore[no-untyped-def]
    values, created = rows.log_values(
        rec, secrets, adapt_time=lambda t: ("time", t), adapt_json=lambda v: ("json", v),
        adapt_flag=lambda b: ("flag", b), adapt_money=lambda m: ("money", m),
    )  # fmt: skip
    assert created == datetime.fromtimestamp(rec.created_at, tz=UTC)
    return dict(zip(rows.LOG_COLUMNS, values, strict=True))


def test_a_logs_values_are_cut_to_their_columns_and_counts_to_their_ranges() -> None:
    rec = full_record(
        request_id="r" * 50, key_name="k" * 300, status=70_000, input_tokens=-5,
        output_tokens=2**40, error_message="failed with sk-secret-value\x00!",
        requested_route="echo", end_user="", tags=("a", "b"),
    )  # fmt: skip
    row = logged(rec, secrets=["sk-secret-value"])
    assert row["request_id"] == "r" * 40 and row["key_name"] == "k" * 200
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (32767, 0, 2**31 - 1)
    assert row["error_message"] == "failed with [redacted]\ufffd!"
    assert row["requested_route"] is None  # the route that answered: not repeated
    assert row["end_user"] is None and row["tags"] == ("json", ["a", "b"])
    assert row["created_at"][0] == "time" and row["stream"] == ("flag", True)
    assert row["cost_usd"] == ("money", Decimal("0.00000410"))
    assert row["cache_saved_usd"] == ("money", Decimal("0"))
    assert row["attempts"][1][0]["status"] == 200
    assert row["cache_hit_saved_usd"] is None and row["mcp_calls"] is None
    assert logged(full_record(requested_route="other"))["requested_route"] == "other"


def test_an_mcp_calls_error_is_redacted_and_the_rest_kept() -> None:
    calls = [
        {"server": "docs", "error": "GET https://mcp.example/?token=tok-123456 failed"},
        {"server": "wiki", "error": ""},
    ]
    row = logged(full_record(mcp_calls=calls), secrets=["tok-123456"])
    stored = row["mcp_calls"][1]
    assert "tok-123456" not in stored[0]["error"] and stored[1] == calls[1]


def test_a_record_without_bodies_has_no_body_row() -> None:
    assert rows.body_values(Record(request_id="r"), 1000) is None


def test_request_bodies_are_split_into_an_envelope_and_parts_when_asked() -> None:
    long = "x" * 20_000
    rec = Record(
        request_id="r",
        inbound_request=(
            '{"model":"m","messages":[{"role":"user","content":"' + long + '"}]}'
        ).encode(),
    )
    found = []
    values = rows.body_values(rec, 256 * 1024, parts=found.append)
    assert values is not None
    inbound, *_, truncated, derived, parts = values
    assert len(found) == 1 and long not in inbound  # the envelope stays, the messages go
    assert parts is not None and "inbound_request" in parts and truncated is False
    cut = rows.body_values(rec, 100, parts=found.append)
    assert cut is not None and cut[4] is True and cut[6] is None  # a cut body is never split


def test_a_spliced_body_is_stored_as_the_body_it_stands_for() -> None:
    from gateway.journal.record import Spliced

    caller = b'{"model":"a","messages":["' + b"x" * 2000 + b'"]}'
    upstream = b'{"model":"bb"' + caller[len(b'{"model":"a"') :]
    spliced = Record(
        request_id="r",
        inbound_request=caller,
        upstream_request=Spliced(upstream[:13], "inbound_request", 12),
    )
    whole = Record(request_id="r", inbound_request=caller, upstream_request=upstream)
    assert rows.body_values(spliced, 100_000) == rows.body_values(whole, 100_000)


SECRETS = ("s3cr3t-value-123", "another-secret-xyz")
# what redaction finds: secrets, key prefixes, caseless markers, a caller's credential
# fields, characters only Unicode case folding matches, and a NUL
FINDINGS = (
    *SECRETS,
    "sk-abcdefghijklmnopqrstuvwx",
    "Bearer tok",
    "API-KEY",
    '\\"authorization_token\\": \\"t\\"',
    "\u212a",
    "\x00",
    "é",
    "完",
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20_000) | st.integers(4_020, 4_080), st.sampled_from(FINDINGS)),
        max_size=3,
    ),
    st.sampled_from(['"b"', '"gpt-4o-mini"', '"sk-model-xyz"', '"s3cr3t-value-123"', '"m\u212a"']),
    st.sampled_from([10_000_000, 20_500, 4_000]),
)
def test_a_spliced_body_is_read_from_its_neighbours_text_as_made_whole(
    findings: list[tuple[int, str]], model: str, limit: int
) -> None:
    """A passed-through upstream body queued as a ``Spliced`` of the caller's is read
    from the caller's text without scanning it again only where that gives what making
    it whole gives: secrets and markers anywhere (in the renamed head, across the join,
    after it), non-ASCII text, a NUL, a body cut at the limit."""
    content = "x" * 20_000
    for at, finding in sorted(findings, reverse=True):
        content = content[:at] + finding + content[at:]
    caller = ('{"model":"a","messages":["' + content + '"]}').encode()
    upstream = b'{"model":' + model.encode() + caller[len(b'{"model":"a"') :]
    queued = Record(request_id="r", inbound_request=caller, upstream_request=upstream)
    background._splice(queued)
    assert isinstance(queued.upstream_request, Spliced)
    whole = Record(request_id="r", inbound_request=caller, upstream_request=upstream)
    assert rows.body_values(queued, limit, SECRETS) == rows.body_values(whole, limit, SECRETS)


def test_a_spliced_body_whose_head_makes_a_marker_with_its_neighbours_text_is_scanned() -> None:
    """A head and the neighbour's text after the join that hold a key prefix only
    together ("s" + "k-..."): the body is redacted as made whole."""
    caller = ('{"model":"a","x":"' + "y" * 20_000 + 'k-abcdefghijklmnopqrstuvwxyz"}').encode()
    join = len(caller) - len('k-abcdefghijklmnopqrstuvwxyz"}')
    upstream = b'{"model":"b","x":"' + b"y" * 19_998 + b" s" + caller[join:]
    head = len(upstream) - len(caller) + join
    queued = Record(
        request_id="r",
        inbound_request=caller,
        upstream_request=Spliced(upstream[:head], "inbound_request", join),
    )
    whole = Record(request_id="r", inbound_request=caller, upstream_request=upstream)
    values = rows.body_values(queued, 10_000_000, SECRETS)
    assert values == rows.body_values(whole, 10_000_000, SECRETS)
    assert values is not None and "sk-abc" not in values[1]


@pytest.mark.parametrize("model", ['"b"', '"bcd"'])
def test_a_spliced_body_joined_inside_a_character_is_made_whole(model: str) -> None:
    """A three-byte character across the join (the neighbour's offset inside it): the
    body is made whole and read as any other, never a half decoded alone."""
    start = '{"model":"a","x":"'
    caller = (start + "y" * (4095 - len(start)) + "完" + "y" * 20_000 + '"}').encode()
    upstream = b'{"model":' + model.encode() + caller[len(b'{"model":"a"') :]
    queued = Record(request_id="r", inbound_request=caller, upstream_request=upstream)
    background._splice(queued)
    assert isinstance(queued.upstream_request, Spliced)
    whole = Record(request_id="r", inbound_request=caller, upstream_request=upstream)
    assert rows.body_values(queued, 10_000_000, SECRETS) == rows.body_values(
        whole, 10_000_000, SECRETS
    )
    inside = Spliced(upstream[:100], "inbound_request", 4096)  # (caller[4096]: inside 完)
    crafted = Record(request_id="r", inbound_request=caller, upstream_request=inside)
    made = Record(request_id="r", inbound_request=caller, upstream_request=inside.made(crafted))
    assert rows.body_values(crafted, 10_000_000, SECRETS) == rows.body_values(
        made, 10_000_000, SECRETS
    )


def _agent_body(messages: list[str]) -> bytes:
    turns = [{"role": "user", "content": text} for text in messages]
    return json.dumps({"model": "m", "messages": turns}, separators=(",", ":")).encode()


def _values_and_parts(body: bytes, secrets: tuple[str, ...]) -> tuple[object, list[object]]:
    found: list[object] = []
    values = rows.body_values(
        Record(request_id="r", inbound_request=body), 10_000_000, secrets, parts=found.append
    )
    return values, found


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(FINDINGS),
    st.integers(0, 40),
    st.lists(st.tuples(st.integers(0, 3_000), st.sampled_from(FINDINGS)), max_size=2),
)
def test_a_next_turn_is_scanned_only_past_what_it_shares_with_a_clean_one(
    across: str, begun: int, findings: list[tuple[int, str]]
) -> None:
    """An agent's next turn, split after the turn before: what it shares with a turn
    whose text was clean is not scanned again. A secret or marker the turn before began
    (its first characters, or all of it: then that turn was not clean) and the next
    completes, and others anywhere in the new turn: the row and its parts are those
    made from nothing."""
    lead = ["first: " + "y" * 2_000, "second: " + "y" * 2_000]
    before = [*lead, "third: " + "y" * 16_000 + " " + across[:begun]]
    new = "fourth: " + "z" * 3_000
    for at, finding in sorted(findings, reverse=True):
        new = new[:at] + finding + new[at:]
    nxt = [*lead, "third: " + "y" * 16_000 + " " + across + " more", new]
    body_parts.forget_layouts()
    _values_and_parts(_agent_body(before), SECRETS)
    after = _values_and_parts(_agent_body(nxt), SECRETS)
    body_parts.forget_layouts()
    assert after == _values_and_parts(_agent_body(nxt), SECRETS)


def test_a_nul_after_what_a_turn_shares_is_replaced_as_from_nothing() -> None:
    """A body that goes on past a clean turn's text with a NUL byte (no JSON: stored
    whole): the NUL is replaced, as in any body."""
    lead = ["first: " + "y" * 2_000, "second: " + "y" * 2_000, "third: " + "y" * 20_000]
    body_parts.forget_layouts()
    _values_and_parts(_agent_body(lead), SECRETS)
    odd = _agent_body(lead)[:-3] + b'\x00tail"}]}'
    after = _values_and_parts(odd, SECRETS)
    assert after[0] is not None and "\x00" not in str(after[0])
    body_parts.forget_layouts()
    assert after == _values_and_parts(odd, SECRETS)


def test_a_secret_configured_after_a_turn_is_redacted_from_what_the_next_shares() -> None:
    """A turn split clean, then a secret configured that its text holds: the next turn,
    which shares that text, is scanned whole and the secret redacted."""
    messages = ["first: new-secret-value-9 " + "y" * 20_000, "second: " + "y" * 100]
    body_parts.forget_layouts()
    _values_and_parts(_agent_body(messages), ())
    values, found = _values_and_parts(_agent_body([*messages, "third"]), ("new-secret-value-9",))
    assert values is not None and "new-secret-value-9" not in str(values[0])
    nodes = [node.data for split in found for node in split.nodes]  # type: ignore[attr-defined]
    assert nodes and not any(b"new-secret-value-9" in data for data in nodes)
    assert any(b"first: [redacted] " in data for data in nodes)


def test_a_key_begun_in_what_a_turn_shares_and_ended_after_is_redacted() -> None:
    """The turn before ends a message with "s" where the next one goes on "k-...": a
    key prefix that only the new bytes complete, found by scanning back from the end of
    what the two share."""
    lead = ["first: " + "y" * 2_000, "second: " + "y" * 2_000]
    messages = [*lead, "third: " + "y" * 20_000 + " s"]
    nxt = [*lead, "third: " + "y" * 20_000 + " sk-abcdefghijklmnopqrstuvwxyz", "fourth"]
    body_parts.forget_layouts()
    _values_and_parts(_agent_body(messages), SECRETS)
    values, found = _values_and_parts(_agent_body(nxt), SECRETS)
    nodes = [node.data for split in found for node in split.nodes]  # type: ignore[attr-defined]
    assert nodes and not any(b"sk-abc" in data for data in nodes)
    body_parts.forget_layouts()
    assert (values, found) == _values_and_parts(_agent_body(nxt), SECRETS)


MID_PIECES = [
    b"",
    b"sk-" + b"q" * 24,
    b"Bearer abcdefgh12345678",
    b'"Authorization": "Basic dXNlcjpwYXNz"',
    b'"authorization_token": "tok-123456789"',
    b'"headers": {"X-Token": "t-987654321"}',
    b'"url": "https://user:pw@mcp.example/sse?token=abc"',
    b'"x-API-Key" : "v-1", a task-list, easy-going, "api-key":"k"',
    b'{"url": "SK-ABCDEFGHIJKLMNOPQRSTU://user:pw@mcp.example/sse"}',
    b"the configured upstream-literal-secret-123 here",
    "réponse, 日本語 \u212a \u0130".encode(),
    b"a NUL \x00 here",
    b"not utf-8 \xff\xfe",
    "é".encode()[:1],  # (a character cut: only its first byte)
]
MID_FILLER = b'{"role":"user","content":"a line of code - x = y + 1; # see it"},'


def old_body_text(data: bytes, limit: int, secrets: tuple[str, ...]) -> tuple[str, bool, bool]:
    """``rows._body_text`` as it was before mid-size texts were scanned (from 16 KB) and
    the key patterns tried only where a match can start (``re.sub`` over the text)."""
    saved = redaction.SCAN_FROM, redaction._patterns_replaced
    redaction.SCAN_FROM = 16 * 1024
    redaction._patterns_replaced = lambda text, *markers: redaction._SECRET_PATTERNS.sub(
        redaction._redacted_match, text
    )
    try:
        return rows._body_text(data, limit, secrets)
    finally:
        redaction.SCAN_FROM, redaction._patterns_replaced = saved


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from((1, 2, 4, 8, 16)),
    st.integers(-80, 80),
    st.lists(st.tuples(st.sampled_from(MID_PIECES), st.floats(0, 1)), max_size=4),
    st.sampled_from((None, 0.5, 0.98)),
)
def test_a_mid_size_body_is_stored_as_it_was_before_it_was_scanned(
    kb: int, jitter: int, pieces: list[tuple[bytes, float]], cut: float | None
) -> None:
    data = (MID_FILLER * (kb * 1024 // len(MID_FILLER) + 1))[: kb * 1024 + jitter]
    for piece, where in pieces:
        at = int(len(data) * where)
        data = data[:at] + piece + data[at:]
    limit = 1 << 20 if cut is None else int(len(data) * cut)
    secrets = ("upstream-literal-secret-123", "provider-secret-abc123")
    assert rows._body_text(data, limit, secrets) == old_body_text(data, limit, secrets)


def test_a_mid_size_body_is_scanned_but_not_vouched_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.base import marker_scan

    if marker_scan.scanner(("sk-",)) is None:
        pytest.skip("Hyperscan is not installed on this platform")

    def searched(text: str, secrets: object) -> str:
        raise AssertionError("a mid-size text searched marker by marker")

    monkeypatch.setattr(redaction, "_redact_searching", searched)
    body = MID_FILLER * 60  # (about 4 KB)
    assert rows._body_text(body, 1 << 20, ("upstream-literal-secret-123",)) == (
        body.decode(), False, False,  # (clean only from CLEAN_FROM: splicing, splitting)
    )  # fmt: skip
    secret = body[:2000] + b"sk-" + b"q" * 24 + body[2000:]
    assert b"sk-q" not in rows._body_text(secret, 1 << 20, ())[0].encode()
    rec = Record("r", inbound_request=secret, upstream_response=body)
    texts, _, clean = rows._texts(rec, 1 << 20, (), {})
    assert texts[2] == body.decode() and clean == {}
