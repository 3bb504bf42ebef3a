"""A request's timings agree: the attempt that streamed an answer lasts as long as its
exchange with the upstream (not just until the first event), upstream time is the sum
of the attempts, and overhead is the rest of the total."""

from __future__ import annotations

import orjson
import pytest

from gateway import journal
from gateway.base.entries import MASTER
from gateway.core import service
from tests.console.playground_support import JournalRecorder, make_echo_routes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> JournalRecorder:
    rec = JournalRecorder()
    monkeypatch.setattr(journal, "record", rec)
    return rec


async def call(dialect: str, body: dict) -> None:
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    if isinstance(reply, service.StreamReply):
        async for _ in reply.chunks:
            pass


def assert_consistent(record: journal.Record) -> None:
    assert record.attempts
    total_attempts = sum(a.duration_ms for a in record.attempts)
    assert record.upstream_ms == pytest.approx(total_attempts)
    assert record.upstream_ms <= record.latency_ms
    assert record.overhead_ms == pytest.approx(record.latency_ms - record.upstream_ms)


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_a_streamed_attempt_lasts_until_its_stream_ends(recorded, dialect) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(make_echo_routes)({"slow": {"delay": 0.01}})
    body = {"model": "slow", "stream": True, "max_tokens": 50}
    body["messages"] = [{"role": "user", "content": "one two three four five six seven"}]
    await call(dialect, body)
    (record,) = recorded.records
    assert_consistent(record)
    # Eight words, 10 ms apart: the attempt spans them all (it used to end at the
    # first event, ~0 ms, while "upstream" said 80 ms).
    assert record.attempts[0].duration_ms >= 70
    assert record.ttft_ms is not None and record.ttft_ms <= record.latency_ms


async def test_a_plain_answer_agrees_too(recorded) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(make_echo_routes)({"plain": {"first_delay": 0.03}})
    await call("openai", {"model": "plain", "messages": [{"role": "user", "content": "hi"}]})
    (record,) = recorded.records
    assert_consistent(record)
    assert record.attempts[0].duration_ms >= 25


async def test_a_fallback_records_the_named_route_and_the_backoff_apart(recorded, settings) -> None:
    """Three 503s on the named route, then its fallback answers: the record names the
    route the caller asked for beside the one that answered, each attempt says how long
    the retry backoff waited before it, and overhead is what is left (the backoff read
    as "Gateway overhead 625 ms" in #66)."""
    from asgiref.sync import sync_to_async

    settings.SWITCHYARD_RETRY_BASE_SECONDS = 0.02
    settings.SWITCHYARD_COOLDOWN_FAILURES = 10

    def routes() -> None:
        from gateway.models import Route

        make_echo_routes({"steady": {}, "flaky": {"fail_status": 503}})
        Route.objects.filter(name="flaky").update(max_attempts=3, fallbacks=["steady"])
        from gateway.access import registry

        registry.rebuild()

    await sync_to_async(routes)()
    await call("openai", {"model": "flaky", "messages": [{"role": "user", "content": "hi"}]})
    (record,) = recorded.records
    assert record.status == 200
    assert (record.requested_route, record.route) == ("flaky", "steady")
    assert [a.route for a in record.attempts] == ["flaky", "flaky", "flaky", "steady"]
    assert record.attempts[0].waited_ms == 0
    assert all(a.waited_ms > 0 for a in record.attempts[1:3])
    waited = sum(a.waited_ms for a in record.attempts)
    assert record.overhead_ms == pytest.approx(
        record.latency_ms - record.upstream_ms - waited, abs=0.01
    )
    # the waiting is not the gateway's work: the equation above subtracts it (a bound
    # against the clock, "overhead < waited", failed once on a loaded CI machine)
    assert 0 <= record.overhead_ms < record.latency_ms - waited
