"""Fixtures the provider tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.mock_gemini import MockGemini


@pytest.fixture(scope="module")
def gemini_upstream() -> Iterator[MockGemini]:
    """The Gemini and Vertex AI mock on 127.0.0.1 (it refuses what Google refuses, and
    takes ``MockGemini``'s own API key), one a module."""
    mock = MockGemini().start()
    yield mock
    mock.stop()
