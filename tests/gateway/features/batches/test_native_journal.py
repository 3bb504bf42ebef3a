"""A native batch's lines reach the request log when their results arrive, as a line
the gateway runs does: one row a line, with usage, cost, the finish reason, the key and
the line's request and answer (``gateway.features.batches.native._record_all``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER
from gateway.features.batches import native
from gateway.models.batches import Batch, BatchLine
from tests.gateway.entries import route, snapshot

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "up-gpt",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "batched"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "dialect", "answer", "finish"),
    [
        ("/v1/chat/completions", "openai", ANSWER, "stop"),
        (
            "/v1/messages",
            "anthropic",
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude",
                "content": [{"type": "text", "text": "batched"}],
                "stop_reason": "max_tokens",
                "usage": {"input_tokens": 11, "output_tokens": 4},
            },
            "length",
        ),
    ],
)
def test_native_lines_are_journaled_like_lines_run_here(
    monkeypatch, snapshot_reset, endpoint, dialect, answer, finish
):
    rows: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", rows.append)
    gpt = route("gpt-b", "up-gpt")
    priced = replace(gpt.deployments[0], input_price=Decimal(2), output_price=Decimal(8))
    gpt = replace(gpt, deployments=(priced,))
    registry.install(snapshot(gpt))
    deployment = gpt.deployments[0]
    now = timezone.now()
    batch = Batch.objects.create(
        id="batch_native1", endpoint=endpoint, total=2, status="in_progress", key_id=None,
        key_name="master", created_at=now, expires_at=now + timedelta(hours=24),
        native="openai", deployment_id=deployment.id,
    )  # fmt: skip
    bodies = [
        {"model": "gpt-b", "messages": [{"role": "user", "content": f"q{i}"}]} for i in (0, 1)
    ]
    BatchLine.objects.bulk_create(
        BatchLine(batch=batch, index=i, custom_id=f"mine-{i}", body=b) for i, b in enumerate(bodies)
    )
    error = {"error": {"message": "bad line", "type": "invalid_request_error"}}
    results = {
        "mine-0": ("succeeded", 200, answer),
        "mine-1": ("errored", 400, error),
    }
    spent = native._record_all(batch, deployment, results)
    assert [r.session for r in rows] == ["batch_native1"] * 2
    ok, failed = rows
    assert (ok.status, ok.input_tokens, ok.output_tokens) == (200, 11, 4)
    factor = native.upstreams.price_factor(deployment.provider, "openai")
    assert ok.cost_usd == spent == (11 * 2 + 4 * 8) / Decimal(1_000_000) * factor
    assert ok.finish_reason == finish and ok.dialect == dialect
    assert (ok.key_name, ok.key_prefix) == ("master", MASTER.prefix)
    assert ok.inbound_request == bodies[0] and ok.outbound_response == answer
    assert ok.route == "gpt-b" and ok.user_agent == native.USER_AGENT
    assert (failed.status, failed.error_message, failed.finish_reason) == (400, "bad line", "")
    assert failed.outbound_response == error
    # the lines point at their rows
    ids = dict(BatchLine.objects.filter(batch=batch).values_list("custom_id", "request_id"))
    assert ids == {"mine-0": ok.request_id, "mine-1": failed.request_id}


class _Row:
    """A Deployment row that sets nothing itself: every figure is the catalog's."""

    def __init__(self, model: str, pk: int) -> None:
        self.id, self.model, self.weight, self.params, self.rpm, self.tpm = (
            pk,
            model,
            1.0,
            {},
            None,
            None,
        )

    def __getattr__(self, name: str) -> object:
        return None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # grok-4.7's batch prices in the catalog: $1.6 / $4.8 per 1M (80% of standard,
        # not the API's 50%)
        ({}, (11 * Decimal("1.6") + 4 * Decimal("4.8")) / Decimal(1_000_000)),
        # control: the operator's own batch_discount wins over the catalog's tier
        ({"batch_discount": "0.5"}, (11 * 2 + 4 * 6) / Decimal(1_000_000) * Decimal("0.5")),
    ],
)
def test_native_lines_pay_the_catalogs_batch_prices(
    monkeypatch, snapshot_reset, settings, expected
):
    from gateway.base.entries import ProviderEntry
    from gateway.catalog import store

    rows: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", rows.append)
    provider = ProviderEntry(
        7301, "xai", "openai", "https://api.x.ai/v1", "k", {}, "", None, settings
    )
    deployment = registry._deployment_entry(
        "grok-b", _Row("grok-4.7", 7302), provider, store.read_file(store.BUNDLED)
    )
    assert (deployment.input_price, deployment.output_price) == (Decimal(2), Decimal(6))
    registry.install(snapshot(replace(route("grok-b", "grok-4.7"), deployments=(deployment,))))
    now = timezone.now()
    batch = Batch.objects.create(
        id="batch_tier1", endpoint="/v1/chat/completions", total=1, status="in_progress",
        key_id=None, key_name="master", created_at=now, expires_at=now + timedelta(hours=24),
        native="openai", deployment_id=deployment.id,
    )  # fmt: skip
    BatchLine.objects.create(batch=batch, index=0, custom_id="only", body={"model": "grok-b"})
    spent = native._record_all(batch, deployment, {"only": ("succeeded", 200, ANSWER)})
    assert rows[0].cost_usd == spent == expected
