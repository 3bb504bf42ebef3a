"""The shared session relay's decisions (``gateway.core.session_relay``): what ended a
session, and which upstream close codes go on to the client. The relay itself is driven
end to end by the Realtime and Live socket tests (tests/gateway/edge/
test_realtime_socket.py, tests/gateway/features/gemini_live/test_socket.py)."""

from __future__ import annotations

import pytest

from gateway.base.errors import GatewayError
from gateway.core.session_relay import ending, upstream_close


def test_the_client_leaving_wins_over_everything_else() -> None:
    noted = {"client": 1000, "guardrail": GatewayError("x"), "drain": 1012, "upstream": 1000}
    assert ending(noted, cut=True) == "client"


@pytest.mark.parametrize("first", ["guardrail", "budget", "too_big"])
def test_a_gateway_refusal_is_what_ended_it_unless_the_server_was_cut(first: str) -> None:
    noted = {first: GatewayError("no"), "drain": 1012, "upstream": 1000}
    assert ending(noted, cut=False) == first
    assert ending(noted, cut=True) == "restart"


def test_a_guardrail_is_named_before_the_budget_and_the_size() -> None:
    noted = {"too_big": "big", "budget": GatewayError("b"), "guardrail": GatewayError("g")}
    assert ending(noted, cut=False) == "guardrail"
    del noted["guardrail"]
    assert ending(noted, cut=False) == "budget"


def test_a_drain_is_a_restart_and_else_the_upstream_ended_it() -> None:
    assert ending({"drain": 1012, "upstream": 1000}, cut=False) == "restart"
    assert ending({"upstream": 1000}, cut=False) == "upstream"
    assert ending({}, cut=False) == "upstream"


@pytest.mark.parametrize(
    ("code", "passed"),
    [(1000, 1000), (1003, 1003), (1004, 1011), (1006, 1011), (1007, 1007), (1014, 1014),
     (1015, 1011), (2999, 1011), (3000, 3000), (4999, 4999), (5000, 1011)],
)  # fmt: skip
def test_only_the_codes_a_client_may_be_sent_go_on(code: int, passed: int) -> None:
    assert upstream_close({"upstream": code, "reason": "bye"}) == (passed, "bye")


def test_an_upstream_that_never_said_is_an_internal_error() -> None:
    assert upstream_close({}) == (1011, "")
