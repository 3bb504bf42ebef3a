"""Listing an Anthropic workspace's Message Batches created since a moment
(``AnthropicBatches.created_since``, what a lost submission is looked for with): every
page is read through ``after_id`` until a batch older than the moment, against the mock
service (newest first, ``limit`` at most 1000)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from gateway.base.entries import ProviderEntry
from gateway.features.batches.upstreams import anthropic
from tests.integration.mock_upstream import MockUpstream


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


def made(mock: MockUpstream, n: int, start: float) -> list[str]:
    """``n`` batches made one second apart from ``start`` (oldest first)."""
    mock.batches.reset()
    ids = []
    for i in range(n):
        batch_id = f"msgbatch_{i:04d}"
        mock.batches.message_batches[batch_id] = {
            "id": batch_id, "created": start + i, "cancelled_at": None,
            "requests": [{"custom_id": "a", "params": {}}],
        }  # fmt: skip
        ids.append(batch_id)
    return ids


async def test_every_page_is_read_down_to_the_moment(mock, monkeypatch) -> None:
    monkeypatch.setattr(anthropic, "LIST_LIMIT", 2)
    client = anthropic.AnthropicBatches(
        ProviderEntry(1, "ant", "anthropic", mock.url, "sk-ant", {}, "", None)
    )
    start = time.time() - 100
    ids = made(mock, 7, start)
    since = datetime.fromtimestamp(start + 2, UTC)  # the five newest
    found = await client.created_since(since)
    assert [item["id"] for item in found] == list(reversed(ids[2:]))
    lists = [path for method, path in mock.batches.calls if method == "GET"]
    assert len(lists) == 3  # pages of 2: the third holds the first older one
    everything = await client.created_since(datetime.fromtimestamp(start - 1, UTC))
    assert len(everything) == 7
