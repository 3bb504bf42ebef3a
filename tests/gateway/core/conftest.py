"""Fixtures the core tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.mock_gemini import MockGemini


@pytest.fixture(scope="module")
def gemini_mock() -> Iterator[MockGemini]:
    """The Gemini mock on 127.0.0.1 (it refuses what Google refuses), one a module."""
    mock = MockGemini().start()
    yield mock
    mock.stop()
