"""What every upstream batch API shares (``gateway.features.batches.upstreams.base``): the
provider's ``native_batches`` flag read, an upstream away tried again with a growing
wait while its refusals fail at once, the batch's lines in order, a JSONL file's objects,
and the defaults an API that needs nothing more keeps."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gateway.base.entries import ProviderEntry
from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.features.batches.upstreams import base
from gateway.models.batches import Batch, BatchLine


def _provider(**settings: str) -> ProviderEntry:
    return ProviderEntry(1, "p", "openai", "https://up.example/v1", "sk", {}, "", None, settings)


def test_the_native_batches_flag() -> None:
    assert base.flag(_provider()) == ""
    assert base.flag(_provider(native_batches=" ON ")) == "on"
    assert "on" in base.ON and "off" in base.OFF


def _failing(*errors: Exception, answer: Any = "done") -> tuple[Any, list[int]]:
    calls: list[int] = []

    async def call() -> Any:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return answer

    return call, calls


def _status(status: int) -> UpstreamError:
    error = UpstreamError(f"answered {status}")
    error.status = status
    return error


def test_an_upstream_away_is_waited_out() -> None:
    call, calls = _failing(_status(502), _status(429))
    assert asyncio.run(base.transient(call, 0.001, asyncio.Event())) == "done"
    assert len(calls) == 3


def test_a_refusal_fails_at_once() -> None:
    call, calls = _failing(InvalidRequest("bad line"))
    with pytest.raises(InvalidRequest):
        asyncio.run(base.transient(call, 0.001, asyncio.Event()))
    assert len(calls) == 1


def test_an_upstream_away_too_long_fails() -> None:
    call, calls = _failing(*[_status(503)] * base.TRIES)
    with pytest.raises(UpstreamError):
        asyncio.run(base.transient(call, 0.001, asyncio.Event()))
    assert len(calls) == base.TRIES


def test_a_runner_stopping_stops_the_tries() -> None:
    call, calls = _failing(_status(503))
    stop = asyncio.Event()
    stop.set()
    assert asyncio.run(base.transient(call, 10.0, stop)) is None
    assert len(calls) == 1


def test_jsonl_keeps_the_objects() -> None:
    data = b'{"a": 1}\n\n[1]\nnot json\n  {"b": 2}  \n'
    assert base.jsonl(data) == [{"a": 1}, {"b": 2}]


@pytest.mark.django_db
def test_the_batches_lines_in_order() -> None:
    batch = Batch.objects.create(
        id="batch_1", api="openai", endpoint="/v1/chat/completions",
        expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    for index, custom_id in ((2, "c"), (0, "a"), (1, "b")):
        BatchLine.objects.create(batch=batch, index=index, custom_id=custom_id, body={"n": index})
    lines = base.batch_lines("batch_1")
    assert [(custom_id, body) for _pk, custom_id, body in lines] == [
        ("a", {"n": 0}), ("b", {"n": 1}), ("c", {"n": 2}),
    ]  # fmt: skip


class Plain(base.UpstreamBatches):
    """An API that keeps every default."""

    api = "plain"

    @classmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        return True

    async def submit(self, batch: Any, deployment: Any, lines: Any, save: Any) -> None:
        return None

    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        return {}

    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        return {}

    @staticmethod
    def read(answer: dict[str, Any]) -> base.Progress:
        return "", 0, 0, False

    async def results(self, batch: Any, deployment: Any, answer: Any, status: str) -> Any:
        return {}, status


def test_the_defaults() -> None:
    provider = _provider()
    plain = Plain(provider)
    assert plain.provider is provider and plain.deployment is None
    assert Plain.why_not(provider) == "" and Plain.min_lines(provider) == 1
    assert Plain.refuses("/v1/chat/completions", [{}]) == ""
    assert str(Plain.discount) == "0.5" and Plain.needs_the_api_still is False
    assert asyncio.run(plain.recover(Batch(), 0.1, asyncio.Event())) is True
    assert asyncio.run(plain.finish(Batch())) is None
