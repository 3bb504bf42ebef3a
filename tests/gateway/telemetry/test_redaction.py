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
