"""Redaction of long texts through one marker scan: the same text out as the searches
it replaces, secrets and caller credentials included, and the slower way kept where
only Unicode case folding would find a marker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base import marker_scan
from gateway.telemetry import redaction

SECRETS = ("sy-configured-master-key-000111", "provider-secret-abc123")
FILLER = '{"role":"user","content":"a line of code - x = y + 1; # see it"},' * 300  # 18 KB


def slow(text: str, secrets: tuple[str, ...]) -> str:
    """``redact`` the way it works without the scan."""
    saved = redaction.SCAN_FROM
    redaction.SCAN_FROM = 10**12
    try:
        return redaction.redact(text, secrets)
    finally:
        redaction.SCAN_FROM = saved


PLANTED = [
    "Bearer abcdefgh12345678",
    "BEARER\tzzzzzzzz99999999",
    '"Authorization": "Basic dXNlcjpwYXNz"',
    '"X-API-KEY": "value-of-the-key"',
    "sk-" + "q" * 24,
    "sy-" + "w" * 24,
    SECRETS[0],
    SECRETS[1],
    '"authorization_token": "tok-123456789"',
    '"headers": {"X-Token": "t-987654321"}',
    '"url": "https://user:pw@mcp.example/sse?token=abc"',
    "\u212a",  # a marker only Unicode case folding finds: the slow way
    '"x-apı-key": "v"',
    "plain words",
]


def test_a_long_text_is_scanned_once_and_redacted_the_same() -> None:
    if marker_scan.scanner(("sk-",)) is None:
        pytest.skip("Hyperscan is not installed on this platform")
    for planted in PLANTED:
        text = FILLER + planted + FILLER
        assert len(text) >= redaction.SCAN_FROM
        assert redaction.redact(text, SECRETS) == slow(text, SECRETS), planted
    secret_free = FILLER * 2
    assert redaction.redact(secret_free, SECRETS) == secret_free


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PLANTED + ["é", "-", "sk", "y-", '"', " "]), max_size=8))
def test_any_mix_of_markers_is_redacted_as_the_searches_would(pieces: list[str]) -> None:
    text = FILLER + " ".join(pieces) + FILLER
    assert redaction.redact(text, SECRETS) == slow(text, SECRETS)


def test_without_the_scan_a_long_text_is_still_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(marker_scan, "scanner", lambda *markers: None)
    text = FILLER + "sk-" + "q" * 24 + FILLER
    assert "[redacted]" in redaction.redact(text, SECRETS)
    assert "sk-q" not in redaction.redact(text, SECRETS)


def test_untouched_is_false_for_every_text_redaction_changes() -> None:
    for planted in PLANTED[:-1]:
        if planted == "\u212a":
            continue  # (the KELVIN SIGN alone changes nothing: it only completes a marker)
        text = "before " + planted + " after"
        assert redaction.redact(text, SECRETS) != text, planted
        assert not redaction.untouched(text, SECRETS), planted
    assert redaction.untouched("plain words, x = y - 1", SECRETS)
    assert not redaction.untouched('"url": "http://h/?a=1"', ())  # (a URL that may hold one)
    assert redaction.untouched('"url": "http://h/"', ())  # (no user info, no query)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(PLANTED + ["é", "-", "sk", "y-", '"', " ", "ı", "K"]), max_size=5),
        min_size=1,
        max_size=4,
    )
)
def test_texts_joined_untouched_are_each_left_as_they_are(parts: list[list[str]]) -> None:
    texts = ["".join(pieces) for pieces in parts]
    if redaction.untouched("\n".join(texts), SECRETS):
        for text in texts:
            assert redaction.redact(text, SECRETS) == text
            assert redaction.untouched(text, SECRETS)


@pytest.mark.parametrize("scan", [True, False])
def test_a_longer_text_is_untouched_as_the_searches_say(
    scan: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not scan:
        monkeypatch.setattr(marker_scan, "scanner", lambda *markers: None)
    elif marker_scan.scanner(("sk-",)) is None:
        pytest.skip("Hyperscan is not installed on this platform")
    filler = FILLER[: redaction.UNTOUCHED_SCAN_FROM]
    assert redaction.untouched(filler + filler, SECRETS)
    for planted in PLANTED:
        text = filler + planted + filler
        if redaction.redact(text, SECRETS) != text:
            assert not redaction.untouched(text, SECRETS), planted
    assert not redaction.untouched(filler + SECRETS[1] + filler, SECRETS)


# A URL whose scheme its masking lowers into a key prefix the text did not hold.
SK_SCHEME = '{"url": "SK-ABCDEFGHIJKLMNOPQRSTU://user:pw@mcp.example/sse"}'


@pytest.mark.parametrize("filler", [FILLER[:600], FILLER])
def test_a_key_prefix_a_masked_url_makes_is_redacted_as_the_searches_would(filler: str) -> None:
    text = filler + SK_SCHEME
    assert redaction.redact(text, SECRETS) == slow(text, SECRETS)
    assert redaction.redact(text, SECRETS).endswith('{"url": "[redacted]://***@mcp.example/sse"}')


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from((1, 2, 4, 8, 16)),
    st.lists(
        st.sampled_from(PLANTED + [SK_SCHEME, "é", "日本", "\x00", "-", "sk", '"']), max_size=6
    ),
)
def test_a_mid_size_text_is_redacted_as_the_searches_would(kb: int, pieces: list[str]) -> None:
    filler = FILLER[: kb * 512]
    text = filler + " ".join(pieces) + filler
    assert redaction.redact(text, SECRETS) == slow(text, SECRETS)
    if len(text) < redaction.CLEAN_FROM:  # (noted clean from there only)
        assert redaction.redact_noting(text, SECRETS)[1] is False


KEY_PIECES = [
    "Bearer", "bEaReR", "bearer", "authorization", "AUTHORIZATION", "x-api-key", "X-Api-Key",
    "api-key", "sk-", "sy-", "SK-", "task-", "x", '"', '":', " : ", ": ", "\t", "\n", "-",
    "abcdefgh", "1234567890ab", "é", "\u0130", "\u0131", "\u212a", "[redacted]", "=", "/",
    '"Authorization": "Basic dXNlcjpwYXNz"', '"authorization"', '"X-API-KEY":"', '"api-key"',
]  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(KEY_PIECES), max_size=24))
def test_the_key_patterns_tried_where_they_can_start_replace_what_sub_does(
    pieces: list[str],
) -> None:
    text = "".join(pieces)
    expected = redaction._SECRET_PATTERNS.sub(redaction._redacted_match, text)
    assert redaction._patterns_replaced(text) == expected
    long = FILLER[:1500] + text + FILLER[:1500] + text  # (its markers placed by a scan)
    expected = redaction._SECRET_PATTERNS.sub(redaction._redacted_match, long)
    assert redaction._patterns_replaced(long) == expected
    found = redaction._markers_in(long, ())
    if found is not None:  # (the markers a scan found: only those looked for)
        assert redaction._patterns_replaced(long, found) == expected


def test_keys_everywhere_in_a_text_are_each_replaced() -> None:
    text = (
        'Bearer abcdefgh12345678 "X-API-Key": "v" task-abcdefghijklmnopq "api-key":"w" '
        "sk-abcdefghijklmnopqr(sy-abcdefghijklmnopqr) bearer\tshort "
        '{"Authorization" : "Basic dXNlcjpwYXNz"}'
    )
    assert redaction._patterns_replaced(text) == (
        'Bearer [redacted] "X-API-Key": "[redacted]" task-abcdefghijklmnopq "api-key": "[redacted]" '
        "[redacted]([redacted]) bearer\tshort "
        '{"Authorization" : "[redacted]"}'
    )
