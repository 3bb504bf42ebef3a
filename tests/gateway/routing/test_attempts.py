"""What a routed request's tries become: each try's journal record, and the errors the
caller sees when they fail (nothing available and when to retry, a misconfigured
deployment, an upstream rejecting the gateway, a prompt too long everywhere, every route
of a chain named)."""

from __future__ import annotations

import pytest

from gateway.base.errors import (
    ConfigurationError,
    InvalidRequest,
    ModelNotFound,
    NoHealthyDeployment,
    UpstreamError,
    UpstreamRejected,
)
from gateway.routing import attempts
from gateway.routing.context_windows import ContextWindowExceeded
from gateway.routing.health import Health
from tests.gateway.entries import deployment, route


def test_an_attempt_is_recorded_in_milliseconds_with_its_error_cut():
    r = route("chat", "gpt-4o")
    (d,) = r.deployments
    got = attempts.attempt(r, d, 503, 10.0, 10.25, "x" * 400, waited=0.5)
    assert (got.deployment_id, got.deployment, got.route, got.status) == (
        d.id,
        "mock/gpt-4o",
        "chat",
        503,
    )
    assert got.duration_ms == pytest.approx(250.0) and got.waited_ms == pytest.approx(500.0)
    assert got.error == "x" * 300


def test_a_chain_without_deployments_says_so():
    error = attempts.unavailable([route("chat"), route("spare")], 100.0, Health())
    assert isinstance(error, NoHealthyDeployment) and error.code == "no_deployments"
    assert "routes tried: 'chat', 'spare'" in error.message


def test_a_busy_chain_says_when_the_first_deployment_frees():
    r = route("chat", "a", "b", "c")
    a, b, c = r.deployments
    health = Health()
    health.cool_until[a.id] = 100.0 + 40
    health.full_until[b.id] = 100.0 + 7
    health.cool_until[c.id] = 100.0 + 0.2  # cooling a moment more: at least a second
    error = attempts.unavailable([r], 100.0, health)
    assert error.code == "no_healthy_deployment" and error.retry_after == 1.0
    health.cool_until[c.id] = 100.0 + 12
    assert attempts.unavailable([r], 100.0, health).retry_after == pytest.approx(7.0)


def test_a_deployment_at_its_own_minute_cap_waits_for_the_next_minute():
    capped = deployment("chat", "a", rpm=1)
    r = route("chat")
    r = type(r)(**{**{f: getattr(r, f) for f in type(r).__slots__}, "deployments": (capped,)})
    health = Health()
    health.minute[capped.id] = [2, 1, 0]  # minute 2 (120-180 s): one request, the cap
    assert attempts.unavailable([r], 125.0, health).retry_after == pytest.approx(55.0)


def test_one_failed_route_keeps_its_words_and_several_are_each_named():
    last = UpstreamError("upstream said 500", status=502)
    assert attempts.every_route_named(last, [("chat", last)]) is last
    long = InvalidRequest("y" * 200)
    named = attempts.every_route_named(last, [("chat", long), ("spare", None), ("x", last)])
    assert named is not last and named.__cause__ is last and named.status == 502
    assert named.message.startswith("upstream said 500 (routes tried: 'chat': 400 ")
    assert "y" * 160 + "…" in named.message and "y" * 161 not in named.message
    assert "'spare': no deployment could take it" in named.message
    assert named.args == (named.message,) and last.message == "upstream said 500"


def test_too_long_everywhere_names_the_largest_window_unless_an_upstream_spoke():
    small = ContextWindowExceeded(9000, 8000, "small")
    large = ContextWindowExceeded(9000, 8500, "large")
    assert attempts.too_long_everywhere([small, large, small]) is large
    theirs = UpstreamError("prompt is too long (theirs)", status=400)
    assert attempts.too_long_everywhere([small, theirs]) is theirs


def test_a_misconfigured_deployment_is_named():
    r = route("chat", "gpt-4o")
    error = attempts.misconfigured(r, r.deployments[0], ConfigurationError("no api key"))
    assert error.code == "deployment_misconfigured"
    assert error.message == "deployment 'mock/gpt-4o' of model 'chat' is misconfigured: no api key"


def test_an_upstream_404_is_model_not_found_with_its_words_unless_they_speak_of_keys():
    r = route("chat", "gpt-9")
    d = r.deployments[0]
    error = attempts.rejected(r, d, UpstreamError("no such model gpt-9", status=404))
    assert isinstance(error, ModelNotFound) and error.code == "model_not_found"
    assert "does not know model 'gpt-9' (404)" in error.message
    assert error.message.endswith("The upstream said: no such model gpt-9")
    quiet = attempts.rejected(r, d, UpstreamError("bad key sk-abc… for gpt-9", status=404))
    assert "sk-abc" not in quiet.message and "The upstream said" not in quiet.message


@pytest.mark.parametrize("status", [401, 403])
def test_an_upstream_refusing_the_credentials_is_never_the_callers_own_401(status):
    r = route("chat", "gpt-4o")
    cause = UpstreamError("invalid api key sk-live-123", status=status)
    error = attempts.rejected(r, r.deployments[0], cause)
    assert isinstance(error, UpstreamRejected) and error.__cause__ is cause
    assert error.code == "upstream_authentication_failed" and error.status not in (401, 403)
    assert "sk-live" not in error.message and f"({status})" in error.message
