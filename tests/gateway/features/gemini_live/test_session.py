"""A Live session's bookkeeping (``gateway.features.gemini_live.session``): the route a
setup names, the setup rewritten for the upstream, ``usageMetadata`` in the Realtime
accounting (audio apart, thoughts as output) counted once per turn, and the close codes
refusals get (``socket.close_for``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from gateway.base.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    ShuttingDown,
)
from gateway.core import realtime
from gateway.features.gemini_live import socket
from gateway.features.gemini_live.session import (
    LiveSession,
    read_setup,
    route_name,
    usage_of,
    with_model,
)
from tests.gateway.entries import deployment

META = {
    "promptTokenCount": 900,
    "cachedContentTokenCount": 100,
    "responseTokenCount": 300,
    "thoughtsTokenCount": 50,
    "toolUsePromptTokenCount": 100,
    "promptTokensDetails": [
        {"modality": "TEXT", "tokenCount": 400},
        {"modality": "AUDIO", "tokenCount": 500},
    ],
    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 200}],
}


def test_the_route_is_what_follows_models() -> None:
    assert route_name("models/live") == "live"
    assert route_name("projects/p/locations/l/publishers/google/models/live") == "live"
    assert route_name("live") == "live"
    with pytest.raises(InvalidRequest):
        route_name("")


def test_the_setup_must_come_first_and_goes_up_with_the_deployments_model() -> None:
    with pytest.raises(InvalidRequest):
        read_setup(b'{"clientContent": {}}')
    with pytest.raises(InvalidRequest):
        read_setup(b"not json")
    setup = read_setup(b'{"setup": {"model": "models/live", "generationConfig": {"x": 1}}}')
    sent = orjson.loads(with_model(setup, "models/gemini-live-2.5-flash"))
    assert sent == {
        "setup": {"model": "models/gemini-live-2.5-flash", "generationConfig": {"x": 1}}
    }
    assert setup["setup"]["model"] == "models/live"  # the caller's is left as it was


def test_usage_metadata_in_the_realtime_accounting() -> None:
    usage = realtime.RealtimeUsage()
    usage.add(usage_of(META))
    assert usage.input_tokens == 1000 and usage.audio_in == 500 and usage.cached_in == 100
    assert (usage.text_out, usage.audio_out) == (150, 200)  # thoughts are text output
    prices = deployment("live", "m", input_price=Decimal(1), output_price=Decimal(2),
                        cache_read_price=Decimal("0.5"), audio_input_price=Decimal(3),
                        audio_output_price=Decimal(4))  # fmt: skip
    expected = (400 * 1 + 100 * Decimal("0.5") + 500 * 3 + 150 * 2 + 200 * 4) / Decimal(10**6)
    assert realtime.cost(prices, usage) == expected


def session() -> LiveSession:
    made: Any = None  # the bookkeeping reads none of these
    return LiveSession(call=made, route=made, deployment=made, upstream=made)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def test_a_turn_counts_once_at_its_end_whatever_message_carries_its_usage() -> None:
    live = session()
    live.observe_upstream(dumps({"serverContent": {"modelTurn": {"parts": [{"text": "a"}]}}}))
    assert live.responding == 1
    live.observe_upstream(dumps({"usageMetadata": {"promptTokenCount": 10}}))  # mid-turn
    live.observe_upstream(dumps({"usageMetadata": {"promptTokenCount": 12}}))  # replaces it
    assert live.usage.responses == 0 and not live.unpaid
    live.observe_upstream(dumps({"serverContent": {"turnComplete": True}}))
    assert live.usage.responses == 1 and live.usage.input_tokens == 12 and live.unpaid
    assert live.responding == 0
    # a tool call ends a turn too; usage after a turn's end counts at once
    live.observe_upstream(
        dumps({"toolCall": {"functionCalls": []}, "usageMetadata": {"promptTokenCount": 5}})
    )
    live.observe_upstream(dumps({"usageMetadata": {"promptTokenCount": 7}}))
    assert live.usage.responses == 3 and live.usage.input_tokens == 24
    audio = dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AAAA"}}]}}})
    assert live.observe_upstream(audio) is audio  # passed on untouched


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AuthenticationFailed("bad key"), 1007),
        (InvalidRequest("bad setup"), 1007),
        (PermissionDenied("not yours"), 1008),
        (ModelNotFound("no such model"), 1008),
        (RateLimited("slow down"), 1011),
        (RateLimited("spent", code="budget_exceeded"), 1011),
        (ShuttingDown("bye"), 1012),
    ],
)
def test_refusals_close_with_googles_codes(error: Any, code: int) -> None:
    assert socket.close_for(error) == (code, error.message)


def test_a_close_reason_fits_its_frame() -> None:
    assert len(socket.reason("é" * 200).encode()) <= 123


def test_the_key_comes_where_the_sdk_puts_the_google_key() -> None:
    scope: dict[str, Any] = {"query_string": b"key=sk-q"}
    assert socket.key_token(scope, {"x-goog-api-key": "sk-h"}) == "sk-h"
    assert socket.key_token(scope, {}) == "sk-q"
    assert socket.key_token({}, {"authorization": "Bearer sk-b"}) == "sk-b"
    assert socket.key_token({}, {}) == ""
