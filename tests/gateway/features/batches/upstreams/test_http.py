"""The signed HTTP client of the batch APIs (``gateway.features.batches.upstreams.http``),
against the mock upstream on 127.0.0.1: a call signed by the provider's adapter, its JSON
or its bytes; an answer of 400 or more an ``UpstreamError`` with the upstream's status
(a 5xx as 502) and its message, never the secret; an answer that is no JSON and an
upstream that cannot be reached said so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.base.entries import ProviderEntry
from gateway.base.errors import UpstreamError
from gateway.features.batches.upstreams import http
from tests.integration.mock_upstream import MockUpstream
from tests.live import free_port

SECRET = "sk-batch-secret"


class Client(http.HttpBatches):
    """The common client, at the provider's base URL (the APIs' own parts are theirs)."""

    api = "test"

    def url(self, path: str) -> str:
        return f"{self.provider.base_url}/{path}"

    @classmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        return True

    async def submit(self, batch: Any, deployment: Any, lines: Any, save: Any) -> None:
        return None

    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"batches/{upstream_id}"))

    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        return {}

    @staticmethod
    def read(answer: dict[str, Any]) -> Any:
        return "", 0, 0, False

    async def results(self, batch: Any, deployment: Any, answer: Any, status: str) -> Any:
        return {}, status


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def client(mock: MockUpstream) -> Client:
    mock.batches.reset()
    provider = ProviderEntry(1, "up", "openai", f"{mock.url}/v1", SECRET, {}, "", None)
    return Client(provider)


def test_a_signed_call_answers_its_json_or_bytes(client: Client, mock: MockUpstream) -> None:
    mock.batches.files["file-1"] = {"purpose": "batch", "content": b"raw\n", "filename": "a"}
    assert asyncio.run(client.call("GET", "files/file-1/content", raw=True)) == b"raw\n"
    deleted = asyncio.run(client.call("DELETE", "files/file-1"))
    assert deleted == {"id": "file-1", "object": "file", "deleted": True}
    assert mock.batches.calls == [
        ("GET", "/v1/files/file-1/content"),
        ("DELETE", "/v1/files/file-1"),
    ]


def test_a_refusal_keeps_the_upstreams_status_and_message(client: Client) -> None:
    with pytest.raises(UpstreamError) as refused:
        asyncio.run(client.retrieve("batch_gone"))
    assert refused.value.status == 404
    assert "No batch found with id 'batch_gone'" in refused.value.message
    assert "answered 404 to GET /v1/batches/batch_gone" in refused.value.message
    assert SECRET not in refused.value.message


def test_an_upstream_failure_is_a_502(client: Client, mock: MockUpstream) -> None:
    mock.batches.failures.append(503)
    with pytest.raises(UpstreamError) as failed:
        asyncio.run(client.retrieve("batch_x"))
    assert failed.value.status == 502 and "overloaded" in failed.value.message


def test_an_answer_that_is_no_json(client: Client, mock: MockUpstream) -> None:
    mock.batches.files["file-2"] = {"purpose": "batch", "content": b"<html>", "filename": "a"}
    with pytest.raises(UpstreamError, match="answered GET /v1/files/file-2/content with no JSON"):
        asyncio.run(client.call("GET", "files/file-2/content"))


def test_an_upstream_that_cannot_be_reached() -> None:
    provider = ProviderEntry(
        1, "gone", "openai", f"http://127.0.0.1:{free_port()}/v1", SECRET, {}, "", None
    )
    with pytest.raises(UpstreamError, match="could not reach upstream provider 'gone'") as failed:
        asyncio.run(Client(provider).retrieve("b"))
    assert "127.0.0.1" not in failed.value.message
