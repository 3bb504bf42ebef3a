"""A request's record is completed (its fields and bodies, the cost, the budget's
settlement, the journal) once its reply's last byte is written, not before: at c=1 the
client waits for whatever runs before that byte. Its times are still taken when the
answer was done, and outside the HTTP edge (a batch, a background response) it is
completed at once."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.core import call as call_module
from gateway.edge import endpoints
from gateway.journal import Record
from tests.gateway.edge.test_endpoints_disconnect import MASTER_KEY, scope
from tests.gateway.test_reference_cycles import gateway_setup, install  # noqa: F401


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_the_record_is_completed_after_the_last_byte(
    gateway_setup: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    stream: bool,
) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY  # the key scope() sends
    install(governed=False)
    events: list[str] = []
    records: list[Record] = []
    complete = call_module.Call._complete

    def noted(self: call_module.Call, *args: Any) -> None:
        events.append("completed")
        complete(self, *args)

    monkeypatch.setattr(call_module.Call, "_complete", noted)
    monkeypatch.setattr(call_module.journal, "record", records.append)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": orjson.dumps(body), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            events.append("last byte")

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    await app.api(scope(), receive, send, "chat", "openai")
    assert events == ["last byte", "completed"]
    (rec,) = records
    assert rec.status == 200 and rec.output_tokens > 0 and rec.outbound_response
    assert 0 < rec.upstream_ms <= rec.latency_ms  # type: ignore[operator]


def test_outside_the_edge_a_record_is_completed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[tuple[float, int]] = []
    monkeypatch.setattr(
        call_module.Call, "_complete", lambda self, now, status, *rest: done.append((now, status))
    )
    call = call_module.Call.__new__(call_module.Call)
    call.done, call.cache, call.exchange, call.release_deployment = False, None, None, None
    call.finish(status=201)
    call.finish(status=500)  # once
    assert [status for _, status in done] == [201]
