"""The edge hands a request's journal record on after the reply's last byte is written
(the client reads meanwhile), for a whole answer and a stream, and when the client
leaves mid-stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway import journal
from gateway.core import service
from gateway.core.service import Reply, StreamReply
from gateway.edge import endpoints
from gateway.journal import Record
from tests.gateway.edge.test_endpoints_disconnect import MASTER_KEY, scope
from tests.gateway.journal.records import told_of


@pytest.fixture(autouse=True)
def _master_key(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return told_of(monkeypatch)


async def receive() -> dict:
    return {"type": "http.request", "body": b'{"model": "m"}', "more_body": False}


async def test_a_whole_answer_is_written_before_its_record_goes_on(
    told: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def handle(endpoint, dialect, raw, headers, caller):
        journal.record(Record(request_id="plain"))  # as Call.finish does
        return Reply(200, b"{}", [])

    monkeypatch.setattr(service, "handle", handle)
    at_last_byte: list[list[str]] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            at_last_byte.append(list(told))

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    await app.api(scope(), receive, send, "chat", "openai")
    assert at_last_byte == [[]]  # not told yet when the last byte went
    assert told == ["plain"]


@pytest.mark.parametrize("leaves", [False, True])
async def test_a_stream_s_record_goes_on_after_its_end_or_its_client_leaving(
    told: list[str], monkeypatch: pytest.MonkeyPatch, leaves: bool
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"
        finally:
            journal.record(Record(request_id="stream"))  # the pump's close

    async def handle(endpoint, dialect, raw, headers, caller):
        return StreamReply(200, [], chunks())

    monkeypatch.setattr(service, "handle", handle)
    monkeypatch.setattr(endpoints.settings, "SWITCHYARD_STREAM_KEEPALIVE_SECONDS", 0)
    written: list[bytes] = []
    at_end: list[list[str]] = []

    async def send(message: dict) -> None:
        if message["type"] != "http.response.body":
            return
        if leaves and written:
            raise OSError("the client left")
        written.append(message.get("body", b""))
        if not message.get("more_body"):
            at_end.append(list(told))

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    if leaves:
        with pytest.raises(OSError):
            await app.api(scope(), receive, send, "chat", "openai")
    else:
        await app.api(scope(), receive, send, "chat", "openai")
        assert at_end == [[]]
    assert told == ["stream"]
