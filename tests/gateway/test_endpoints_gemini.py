"""Which requests the endpoints treat as Gemini API calls: method paths under /v1beta/
and /v1/ (model from the URL, ``models/`` stripped, a route name's ``/`` kept), keys
sent the Google way, and the /v1/models listing that is Gemini's only for a Google key."""

from __future__ import annotations

import pytest

from gateway.endpoints import gemini_method, google_key, is_gemini_listing, query_key


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1beta/models/gem:generateContent", ("chat", "gem", False)),
        ("/v1beta/models/gem:streamGenerateContent", ("chat", "gem", True)),
        ("/v1beta/models/gem:countTokens", ("count_tokens", "gem", False)),
        ("/v1/models/gem:generateContent", ("chat", "gem", False)),
        ("/v1beta/models/models/gem:generateContent", ("chat", "gem", False)),
        ("/v1beta/models/gemini/flash:generateContent", ("chat", "gemini/flash", False)),
        ("/v1beta/models/ns:tag:generateContent", ("chat", "ns:tag", False)),
        ("/v1beta/models/gem:embedContent", None),
        ("/v1beta/models/:generateContent", None),
        ("/v1beta/models/gem", None),
        ("/v1/chat/completions", None),
        ("/v1/models", None),
    ],
)
def test_gemini_method_paths(path: str, expected: tuple[str, str, bool] | None) -> None:
    assert gemini_method(path) == expected


def scope(path: str, query: bytes = b"") -> dict:
    return {"path": path, "query_string": query}


def test_google_keys_header_first_then_query() -> None:
    assert google_key(scope("/x", b"alt=sse&key=sy-q"), {}) == "sy-q"
    assert google_key(scope("/x", b"key=sy-q"), {"x-goog-api-key": " sy-h "}) == "sy-h"
    assert google_key(scope("/x", b"alt=sse&monkey=1"), {}) == ""
    assert query_key(scope("/x", b"key=a%2Bb")) == "a+b"


@pytest.mark.parametrize(
    ("path", "query", "headers", "gemini"),
    [
        ("/v1beta/models", b"", {}, True),
        ("/v1beta/models/gem", b"", {}, True),
        ("/v1/models", b"", {"authorization": "Bearer sy"}, False),
        ("/v1/models", b"key=sy", {}, True),
        ("/v1/models/gem", b"", {"x-goog-api-key": "sy"}, True),
        ("/v1/models", b"", {"x-goog-api-key": "sy"}, True),
        ("/v1beta/modelsx", b"", {}, False),
    ],
)
def test_gemini_listing(path: str, query: bytes, headers: dict, gemini: bool) -> None:
    assert is_gemini_listing(scope(path, query), headers) is gemini
