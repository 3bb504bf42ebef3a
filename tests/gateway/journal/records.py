"""A journal record with every kind of value filled, for the journal's tests to vary."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.journal import Record
from gateway.routing.attempts import Attempt


def full_record(request_id: str = "req-db", **overrides: Any) -> Record:
    fields = dict(
        request_id=request_id,
        key_id=7,
        key_name="ci",
        key_prefix="sy-abc",
        dialect="anthropic",
        endpoint="chat",
        route="echo",
        deployment_id=3,
        provider="echo",
        upstream_model="echo-1",
        stream=True,
        status=200,
        finish_reason="end_turn",
        attempts=[Attempt(3, "echo/echo-1", "echo", 200, 12.5)],
        latency_ms=40.0,
        ttft_ms=10.0,
        upstream_ms=30.0,
        overhead_ms=10.0,
        input_tokens=5,
        output_tokens=9,
        cost_usd=Decimal("0.00000410"),
        user_agent="pytest",
        inbound_request=b'{"model":"echo"}',
        upstream_request=b"",
        upstream_response=b"event: message_start\n\n",
        outbound_response=b"data: [DONE]\n\n",
    )
    fields.update(overrides)
    return Record(**fields)


def told_of(monkeypatch: Any) -> list[str]:
    """The request ids the journal's subscribers are told of from now on, in order,
    under a writer that stores nothing (both put back at the test's end)."""
    from gateway import journal
    from gateway.journal import Writer

    monkeypatch.setattr(journal, "_writer", Writer(lambda batch: [], capacity=100, notify=False))
    told: list[str] = []
    monkeypatch.setattr(
        journal, "_subscribers", [*journal._subscribers, lambda rec: told.append(rec.request_id)]
    )
    return told
