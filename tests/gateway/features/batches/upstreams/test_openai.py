"""OpenAI's Files + Batch API as a native batch upstream
(``gateway.features.batches.upstreams.openai``), against the mock service on 127.0.0.1:
which providers have it, a batch submitted (the lines uploaded once with the
deployment's model, the batch made from the file), a submission whose answer was lost
found rather than made twice, progress read, the results under their custom_ids (the
input file deleted then), a cancel forwarded, and a failed batch's errors said."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from gateway.base.entries import ProviderEntry
from gateway.features.batches.upstreams import openai
from gateway.models.batches import Batch
from tests.gateway.entries import deployment
from tests.integration.mock_upstream import MockUpstream

CHAT = "/v1/chat/completions"
LINES = [
    (1, "a", {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
    (2, "b", {"model": "chat", "messages": [{"role": "user", "content": "yo"}]}),
]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def upstream(mock: MockUpstream) -> openai.OpenAIBatches:
    mock.batches.reset()
    mock.batches.delay = 0.0
    provider = ProviderEntry(1, "oa", "openai", f"{mock.url}/v1", "sk-oa", {}, "", None)
    return openai.OpenAIBatches(provider)


def _provider(kind: str, url: str, **settings: str) -> ProviderEntry:
    return ProviderEntry(1, "p", kind, url, "sk", {}, "2024-10-21", None, settings)


def test_which_providers_have_it() -> None:
    assert openai.OpenAIBatches.takes(_provider("openai", "https://api.openai.com/v1"))
    assert not openai.OpenAIBatches.takes(_provider("openai", "http://vllm.internal/v1"))
    assert openai.OpenAIBatches.takes(
        _provider("openai", "http://vllm.internal/v1", native_batches="on")
    )
    assert not openai.OpenAIBatches.takes(_provider("azure", "https://x.openai.azure.com"))
    assert openai.OpenAIBatches.takes(
        _provider("azure", "https://x.openai.azure.com", native_batches="on")
    )
    assert not openai.OpenAIBatches.takes(_provider("anthropic", "https://api.openai.com/v1"))


def _batch() -> Batch:
    return Batch(
        id="batch_gw", api="openai", endpoint=CHAT, expires_at=timezone.now() + timedelta(hours=1)
    )


async def _submit(upstream: openai.OpenAIBatches, batch: Batch) -> list[tuple[str, str]]:
    saved: list[tuple[str, str]] = []

    async def save(field: str, value: str) -> None:
        saved.append((field, value))

    target = dataclasses.replace(deployment("chat", "gpt-upstream"), provider=upstream.provider)
    await upstream.submit(batch, target, LINES, save)
    return saved


def test_a_batch_is_uploaded_made_and_its_results_read(
    upstream: openai.OpenAIBatches, mock: MockUpstream
) -> None:
    batch = _batch()
    saved = asyncio.run(_submit(upstream, batch))
    assert [field for field, _ in saved] == ["upstream_file_id", "upstream_batch_id"]
    uploaded = mock.batches.files[batch.upstream_file_id]
    sent = [orjson.loads(line) for line in uploaded["content"].splitlines()]
    assert [line["custom_id"] for line in sent] == ["a", "b"]
    assert {line["body"]["model"] for line in sent} == {"gpt-upstream"}
    made = mock.batches.batches[batch.upstream_batch_id]
    assert made["metadata"] == {"switchyard_batch": "batch_gw"}
    answer = asyncio.run(upstream.retrieve(batch.upstream_batch_id))
    assert openai.OpenAIBatches.read(answer) == ("completed", 2, 0, True)
    target = deployment("chat", "gpt-upstream")
    results, status = asyncio.run(upstream.results(batch, target, answer, "completed"))
    assert status == "completed" and set(results) == {"a", "b"}
    assert results["a"][:2] == ("succeeded", 200) and results["a"][2]["object"] == "chat.completion"
    assert batch.upstream_file_id not in mock.batches.files  # the input file deleted


def test_a_submission_whose_answer_was_lost_is_found(
    upstream: openai.OpenAIBatches, mock: MockUpstream
) -> None:
    first = _batch()
    asyncio.run(_submit(upstream, first))
    again = _batch()
    again.upstream_file_id = first.upstream_file_id  # uploaded, the batch's id never saved
    saved = asyncio.run(_submit(upstream, again))
    assert saved == [("upstream_batch_id", first.upstream_batch_id)]
    assert len(mock.batches.batches) == 1


def test_a_cancel_is_forwarded(upstream: openai.OpenAIBatches, mock: MockUpstream) -> None:
    mock.batches.delay = 60.0
    batch = _batch()
    asyncio.run(_submit(upstream, batch))
    assert (
        openai.OpenAIBatches.read(asyncio.run(upstream.retrieve(batch.upstream_batch_id)))[3]
        is False
    )
    assert asyncio.run(upstream.cancel(batch.upstream_batch_id))["status"] == "cancelling"
    answer = asyncio.run(upstream.retrieve(batch.upstream_batch_id))
    results, _ = asyncio.run(upstream.results(batch, deployment("chat", "m"), answer, "cancelled"))
    assert {outcome for outcome, _status, _body in results.values()} == {"canceled"}


def test_azure_names_the_endpoint_without_v1() -> None:
    azure = openai.OpenAIBatches(_provider("azure", "https://x.openai.azure.com"))
    assert azure.endpoint(CHAT) == "/chat/completions"
    assert (
        openai.OpenAIBatches(_provider("openai", "https://api.openai.com/v1")).endpoint(CHAT)
        == CHAT
    )


def test_a_failed_batch_with_no_results_says_why(upstream: openai.OpenAIBatches) -> None:
    answer = {"status": "failed", "errors": {"data": [{"message": "bad line 3"}, {"code": "x"}]}}
    results, status = asyncio.run(
        upstream.results(_batch(), deployment("c", "m"), answer, "failed")
    )
    assert results == {} and status == "failed:bad line 3; {'code': 'x'}"
    assert asyncio.run(upstream.results(_batch(), deployment("c", "m"), {}, "failed"))[1] == (
        "failed:the upstream batch failed"
    )


@pytest.mark.parametrize(
    ("item", "result"),
    [
        ({"response": {"status_code": 200, "body": {"ok": 1}}}, ("succeeded", 200, {"ok": 1})),
        ({"response": {"status_code": 429, "body": {}}}, ("errored", 429, {})),
        ({"error": {"code": "batch_expired"}}, ("expired", 0, None)),
        ({"error": {"code": "batch_cancelled"}}, ("canceled", 0, None)),
        ({"error": {"code": "boom"}}, ("errored", 500, {"error": {"code": "boom"}})),
    ],
)
def test_each_lines_result(item: dict[str, Any], result: tuple[str, int, Any]) -> None:
    assert openai._result(item) == result
