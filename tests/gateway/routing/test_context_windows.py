"""Context windows before an attempt: a deployment too small for the prompt is skipped
for its sibling, a route too small for it hands over to its context-window fallbacks in
order, and a prompt no window holds is one 400 naming the largest window and the count.
Routing runs for real (fake clock); the attempt is the service's own check."""

from __future__ import annotations

import pytest

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.types import ChatRequest, Message, Text
from gateway.core import capabilities
from gateway.routing import routing
from gateway.routing.attempts import Attempt
from gateway.routing.context_windows import ContextWindowExceeded
from tests.gateway.entries import deployment, route, snapshot

pytestmark = pytest.mark.usefixtures("fake_time")

REQUEST = ChatRequest(model="m", messages=[Message(role="user", parts=[Text("hi")])])


def sized(name: str, *windows: int | None, cw=(), fallbacks=()) -> RouteEntry:
    """A route whose deployments (models named name-0, name-1 ...) have these windows."""
    entry = route(name, cw=cw, fallbacks=fallbacks)
    deployments = tuple(
        deployment(name, f"{name}-{i}", context_window=w) for i, w in enumerate(windows)
    )
    return RouteEntry(**{**_fields(entry), "deployments": deployments})


def _fields(entry: RouteEntry) -> dict:
    return {name: getattr(entry, name) for name in RouteEntry.__slots__}


class Attempts:
    """The service's attempt: the capability check with the prompt's size, then "ok"."""

    def __init__(self, prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.called: list[str] = []

    async def __call__(self, route: RouteEntry, deployment: DeploymentEntry) -> str:
        capabilities.check(REQUEST, route, deployment, self.prompt_tokens)
        self.called.append(deployment.model)
        return f"ok from {deployment.model}"


async def run(entry: RouteEntry, others: list[RouteEntry], prompt_tokens: int):
    attempts = Attempts(prompt_tokens)
    log: list[Attempt] = []
    plan = capabilities.fitting(entry, prompt_tokens)  # what the service routes
    result = await routing.run(snapshot(entry, *others), plan, attempts, log)
    return result, attempts.called, log


async def test_a_deployment_too_small_is_skipped_for_its_sibling():
    mixed = sized("mixed", 8_000, 128_000)
    for _ in range(20):  # equal weights: without the check half would go to the small one
        result, called, log = await run(mixed, [], 10_000)
        assert result == "ok from mixed-1" and [a.status for a in log] == [200]
    short, _, _ = await run(mixed, [], 100)
    assert short in ("ok from mixed-0", "ok from mixed-1")


async def test_a_route_too_small_goes_to_its_fallbacks_in_order_skipping_small_ones():
    small = sized("small", 8_000, cw=("mid", "big"))
    mid, big = sized("mid", 32_000), sized("big", 200_000)
    result, called, log = await run(small, [mid, big], 100_000)
    assert result == "ok from big-0" and called == ["big-0"]  # no upstream call before
    assert [(a.route, a.status) for a in log] == [("small", 400), ("mid", 400), ("big", 200)]
    result, _, _ = await run(small, [mid, big], 20_000)
    assert result == "ok from mid-0"  # the first that holds it, not the largest


async def test_a_fallbacks_own_context_window_fallbacks_are_followed():
    small = sized("small", 8_000, cw="mid")
    mid = sized("mid", 32_000, cw="big")
    big = sized("big", 1_000_000)
    result, _, _ = await run(small, [mid, big], 500_000)
    assert result == "ok from big-0"


async def test_a_prompt_over_every_window_names_the_largest_and_the_count():
    small = sized("small", 8_000, cw=("big", "mid"))
    mid, big = sized("mid", 32_000), sized("big", 200_000)
    with pytest.raises(ContextWindowExceeded) as raised:
        await run(small, [mid, big], 250_000)
    error = raised.value
    assert (error.status, error.code, error.window, error.prompt_tokens) == (
        400,
        "context_length_exceeded",
        200_000,
        250_000,
    )
    assert error.message.startswith("prompt is too long: 250000 tokens > 200000 maximum")
    assert "'big'" in error.message


async def test_a_context_window_fallback_that_is_disabled_or_forbidden_is_passed_over():
    small = sized("small", 8_000, cw=("off", "big"))
    off = RouteEntry(**{**_fields(sized("off", 500_000)), "enabled": False})
    big = sized("big", 200_000)
    result, _, _ = await run(small, [off, big], 100_000)
    assert result == "ok from big-0"


async def test_a_fallback_route_with_mixed_windows_uses_its_deployment_that_holds_it():
    # the fallback route is not narrowed by the service's plan (only the first route
    # is): its small deployment refuses before any call, its large sibling answers
    small = sized("small", 8_000, cw="mixed")
    mixed = sized("mixed", 16_000, 200_000)
    for _ in range(10):
        result, called, log = await run(small, [mixed], 100_000)
        assert result == "ok from mixed-1" and called == ["mixed-1"]
        assert log[-1].route == "mixed" and log[-1].status == 200
