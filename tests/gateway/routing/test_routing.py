"""Routing policy, proven with fake upstream calls, a fake clock and a recorded sleep."""

from __future__ import annotations

import pytest

from gateway.access import registry
from gateway.base.entries import DeploymentEntry, ProviderEntry, RouteEntry
from gateway.base.errors import (
    InvalidRequest,
    NoHealthyDeployment,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.routing import routing
from gateway.routing.health import choose
from tests.gateway.entries import _ids, deployment, route, snapshot
from tests.gateway.limits.test_limits import key


class Upstream:
    """A fake ``call``: per upstream model, a list of outcomes consumed in order (an
    exception to raise or a value to return); records which models were called."""

    def __init__(self, **plans) -> None:
        self.plans = {model: list(outcomes) for model, outcomes in plans.items()}
        self.calls: list[str] = []

    async def __call__(self, route: RouteEntry, deployment: DeploymentEntry):
        self.calls.append(deployment.model)
        plan = self.plans.get(deployment.model) or ["ok"]
        outcome = plan.pop(0) if len(plan) > 1 else plan[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return f"{outcome} from {deployment.model}"


def server_error(status: int = 500, **kwargs) -> UpstreamError:
    return UpstreamError(f"upstream said {status}", status=status, **kwargs)


async def test_retry_lands_on_the_healthy_deployment(fake_time):
    r = route("r", "bad", "good", weights=[1000.0, 0.001])
    upstream = Upstream(bad=[server_error(503)])
    attempts = []
    result = await routing.run(snapshot(r), r, upstream, attempts)
    assert result == "ok from good"
    assert upstream.calls == ["bad", "good"]
    assert [(a.deployment, a.status) for a in attempts] == [("mock/bad", 503), ("mock/good", 200)]
    assert attempts[0].error == "upstream said 503"


@pytest.mark.parametrize(
    "error",
    [
        UpstreamConnectionError("connection refused"),
        UpstreamTimeout("read timeout"),
        server_error(408),
        server_error(429),
        server_error(500),
        server_error(529),
    ],
)
async def test_retryable_failures_are_retried(fake_time, error):
    r = route("r", "only")
    upstream = Upstream(only=[error, "ok"])
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from only"
    assert upstream.calls == ["only", "only"]


@pytest.mark.parametrize("status", [400, 409, 422])  # 401/403/404: see test_failover.py
async def test_client_errors_are_not_retried(fake_time, status):
    r = route("r", "a", "b", fallbacks=["other"])
    other = route("other", "c")
    upstream = Upstream(a=[server_error(status)], b=[server_error(status)])
    attempts = []
    with pytest.raises(UpstreamError) as raised:
        await routing.run(snapshot(r, other), r, upstream, attempts)
    assert raised.value.status == status
    assert len(upstream.calls) == 1 and "c" not in upstream.calls
    assert [a.status for a in attempts] == [status]
    assert fake_time.sleeps == []


async def test_gateway_errors_other_than_upstream_propagate_at_once(fake_time):
    r = route("r", "a", "b")
    upstream = Upstream(a=[InvalidRequest("bad parameter")], b=[InvalidRequest("bad parameter")])
    with pytest.raises(InvalidRequest):
        await routing.run(snapshot(r), r, upstream, [])
    assert len(upstream.calls) == 1


async def test_backoff_grows_exponentially_with_jitter(fake_time, settings):
    settings.SWITCHYARD_COOLDOWN_FAILURES = 10
    r = route("r", "only", max_attempts=4)
    upstream = Upstream(only=[server_error(502)] * 3 + ["ok"])
    await routing.run(snapshot(r), r, upstream, [])
    first, second, third = fake_time.sleeps
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0
    assert 1.0 <= third <= 2.0


async def test_retry_after_is_honoured_on_the_same_deployment(fake_time):
    r = route("r", "only")
    upstream = Upstream(only=[server_error(429, retry_after=7.0), "ok"])
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from only"
    assert fake_time.sleeps == [7.0]


async def test_retry_after_beyond_the_cap_moves_on_to_the_fallback(fake_time, settings):
    settings.SWITCHYARD_RETRY_AFTER_CAP_SECONDS = 10
    r = route("r", "only", fallbacks=["backup"])
    backup = route("backup", "spare")
    upstream = Upstream(only=[server_error(429, retry_after=3600.0)])
    assert await routing.run(snapshot(r, backup), r, upstream, []) == "ok from spare"
    assert upstream.calls == ["only", "spare"]
    assert all(s < 10 for s in fake_time.sleeps)


async def test_retry_prefers_a_different_deployment_without_waiting_for_retry_after(fake_time):
    r = route("r", "a", "b", weights=[1000.0, 0.001])
    upstream = Upstream(a=[server_error(429, retry_after=20.0)])
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from b"
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] < 1


async def test_fallbacks_are_tried_in_order_after_attempts_run_out(fake_time):
    r = route("main", "m1", max_attempts=2, fallbacks=["first", "second"])
    first = route("first", "f1", max_attempts=1)
    second = route("second", "s1")
    upstream = Upstream(m1=[server_error(500)], f1=[server_error(503)])
    attempts = []
    result = await routing.run(snapshot(r, first, second), r, upstream, attempts)
    assert result == "ok from s1"
    assert upstream.calls == ["m1", "m1", "f1", "s1"]
    assert [a.route for a in attempts] == ["main", "main", "first", "second"]


async def test_fallbacks_the_key_may_not_use_are_skipped(fake_time):
    # a key limited to "main" must not be answered (and billed) by another route
    r = route("main", "m1", max_attempts=1, fallbacks=["first", "second"])
    first = route("first", "f1")
    second = route("second", "s1")
    upstream = Upstream(m1=[server_error(500)])
    allowed = {"main", "second"}
    result = await routing.run(
        snapshot(r, first, second), r, upstream, [], key(routes=frozenset(allowed))
    )
    assert result == "ok from s1"
    assert upstream.calls == ["m1", "s1"]
    upstream = Upstream(m1=[server_error(500)])
    with pytest.raises(UpstreamError):
        await routing.run(
            snapshot(r, first, second), r, upstream, [], key(routes=frozenset({"main"}))
        )
    assert upstream.calls == ["m1"]


async def test_a_context_window_fallback_the_key_may_not_use_is_not_taken(fake_time):
    r = route("small", "s", cw="large")
    large = route("large", "l")
    upstream = Upstream(s=[UpstreamError("prompt is too long: 300000 tokens", status=400)])
    with pytest.raises(UpstreamError) as raised:
        await routing.run(snapshot(r, large), r, upstream, [], key(routes=frozenset({"small"})))
    assert raised.value.context_window_exceeded
    assert upstream.calls == ["s"]


async def test_the_last_upstream_error_is_raised_when_everything_failed(fake_time):
    r = route("main", "m1", max_attempts=2, fallbacks=["first"])
    first = route("first", "f1", max_attempts=1)
    upstream = Upstream(m1=[server_error(500)], f1=[server_error(502)])
    with pytest.raises(UpstreamError) as raised:
        await routing.run(snapshot(r, first), r, upstream, [])
    assert raised.value.status == 502


async def test_context_window_error_goes_to_its_fallback_at_once(fake_time):
    r = route("small", "s", fallbacks=["other"], cw="large")
    large = route("large", "l")
    other = route("other", "o")
    too_long = UpstreamError("This model's maximum context length is 8192 tokens", status=400)
    upstream = Upstream(s=[too_long])
    assert await routing.run(snapshot(r, large, other), r, upstream, []) == "ok from l"
    assert upstream.calls == ["s", "l"]
    assert fake_time.sleeps == []


async def test_context_window_error_without_fallback_is_raised(fake_time):
    r = route("small", "s", fallbacks=["other"])
    other = route("other", "o")
    upstream = Upstream(s=[UpstreamError("prompt is too long: 300000 tokens", status=400)])
    with pytest.raises(UpstreamError) as raised:
        await routing.run(snapshot(r, other), r, upstream, [])
    assert raised.value.context_window_exceeded
    assert upstream.calls == ["s"]


async def test_a_chain_whose_deployments_all_cool_down_is_still_tried(fake_time):
    # Deliberate change (issue #12): cooldowns steer traffic, they never refuse it. Both
    # deployments were cooled elsewhere (e.g. through other routes' chains); a request
    # for this chain is tried on them instead of getting 503 no_healthy_deployment.
    r = route("main", "m1", max_attempts=2, fallbacks=["backup"])
    backup = route("backup", "b1", max_attempts=2)
    for d in r.deployments + backup.deployments:
        routing.health.cool_until[d.id] = fake_time.now + 30
    upstream = Upstream()
    assert await routing.run(snapshot(r, backup), r, upstream, []) == "ok from m1"
    assert upstream.calls == ["m1"]
    assert r.deployments[0].id not in routing.health.cool_until  # the success closed it


async def test_503_at_once_when_every_deployment_of_the_chain_is_at_its_cap(fake_time):
    capped = deployment("main", "m1", rpm=1)
    r = RouteEntry(
        **{
            **{f: getattr(route("main"), f) for f in RouteEntry.__slots__},
            "deployments": (capped,),
        }
    )
    upstream = Upstream()
    await routing.run(snapshot(r), r, upstream, [])
    with pytest.raises(NoHealthyDeployment) as raised:
        await routing.run(snapshot(r), r, upstream, [])
    assert raised.value.status == 503
    assert "cap" in raised.value.message
    assert 1 <= raised.value.retry_after <= 60
    assert upstream.calls == ["m1"] and fake_time.sleeps == []


async def test_route_without_deployments_is_a_clear_error(fake_time):
    empty = route("empty")
    with pytest.raises(NoHealthyDeployment) as raised:
        await routing.run(snapshot(empty), empty, Upstream(), [])
    assert "no enabled deployment" in raised.value.message and "'empty'" in raised.value.message


async def test_route_without_deployments_uses_its_fallback(fake_time):
    empty = route("empty", fallbacks=["echo"])
    echo = route("echo", "e")
    assert await routing.run(snapshot(empty, echo), empty, Upstream(), []) == "ok from e"


async def test_deployment_rpm_cap_is_honoured(fake_time):
    r = route("r", "capped", "spare", weights=[1000.0, 0.001])
    capped = r.deployments[0]
    r = RouteEntry(
        **{
            **{f: getattr(r, f) for f in RouteEntry.__slots__},
            "deployments": (
                deployment("r", "capped", 1000.0, rpm=2, id=capped.id),
                r.deployments[1],
            ),
        }
    )
    upstream = Upstream()
    for _ in range(4):
        await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == ["capped", "capped", "spare", "spare"]


async def test_total_time_budget_bounds_the_retries(fake_time, settings):
    settings.SWITCHYARD_RETRY_TOTAL_SECONDS = 5
    r = route("r", "slow", max_attempts=10)

    async def call(route, deployment):
        fake_time.now += 2.4  # two attempts and a backoff (0.25-0.5 s) outlast the 5 s
        raise UpstreamTimeout("read timeout")

    attempts = []
    with pytest.raises(UpstreamTimeout):
        await routing.run(snapshot(r), r, call, attempts)
    assert len(attempts) == 2


# --- through the service, with a mock upstream ----------------------------------------------


def openai_route(name: str, *hosts: str, max_attempts: int = 3) -> RouteEntry:
    deployments = tuple(
        deployment(
            name,
            "up-model",
            provider=ProviderEntry(
                next(_ids), host, "openai", f"http://{host}/v1", "sk-x", {}, "", None
            ),
        )
        for host in hosts
    )
    return RouteEntry(
        id=next(_ids),
        name=name,
        enabled=True,
        strategy="least_busy",
        deployments=deployments,
        fallbacks=(),
        context_window_fallbacks=(),
        drop_params=True,
        default_params={},
        max_attempts=max_attempts,
        created=0,
    )


def completion(text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


async def test_service_retries_a_429_on_the_other_upstream(fake_time, snapshot_reset):
    import httpx
    import orjson

    from gateway.base import http
    from gateway.base.entries import MASTER
    from gateway.core import service

    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "busy":
            return httpx.Response(
                429,
                headers={"retry-after": "3"},
                json={"error": {"message": "slow down", "type": "rate_limit"}},
            )
        return httpx.Response(200, json=completion(f"hi from {request.url.host}"))

    http.use_transport(httpx.MockTransport(upstream))
    registry.install(snapshot(openai_route("gpt", "busy", "calm")))
    routing.health.in_flight[registry.current().route("gpt").deployments[1].id] = 1  # busy first
    body = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
    reply = await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))
    assert reply.status == 200, reply.body
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "hi from calm"
    assert seen == ["busy", "calm"]
    assert (b"x-switchyard-attempts", b"2") in reply.headers
    assert fake_time.sleeps and fake_time.sleeps[0] < 3  # another deployment: no Retry-After wait


async def test_service_does_not_retry_a_400(fake_time, snapshot_reset):
    import httpx
    import orjson

    from gateway.base import http
    from gateway.base.entries import MASTER
    from gateway.core import service

    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(
            400, json={"error": {"message": "bad tool schema", "type": "invalid_request_error"}}
        )

    http.use_transport(httpx.MockTransport(upstream))
    registry.install(snapshot(openai_route("gpt", "one", "two")))
    body = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
    reply = await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))
    assert reply.status == 400
    assert "bad tool schema" in orjson.loads(reply.body)["error"]["message"]
    assert len(seen) == 1


async def test_hold_keeps_a_stream_counted_until_released(fake_time):
    r = route("r", "a", "b", strategy="least_busy")
    a, b = r.deployments
    release = routing.hold(a.id)
    assert {
        choose(routing.health, routing.rng, r, set(), fake_time.now).model for _ in range(20)
    } == {"b"}
    release()
    release()  # idempotent
    assert routing.health.in_flight[a.id] == 0


async def test_a_fallback_error_names_each_route_tried_and_why(fake_time):
    """It named only the last route tried (issue #43)."""
    r = route("main", "m1", max_attempts=1, fallbacks=["first", "second"])
    first = route("first", "f1", max_attempts=1)
    second = route("second", "s1", max_attempts=1)
    upstream = Upstream(
        m1=[server_error(500)], f1=[server_error(503)], s1=[InvalidRequest("bad tool schema")]
    )
    with pytest.raises(InvalidRequest) as caught:
        await routing.run(snapshot(r, first, second), r, upstream, [])
    error = caught.value
    assert error.status == 400
    assert error.message.startswith("bad tool schema (routes tried: ")
    assert "'main': 500 upstream said 500" in error.message
    assert "'first': 503 upstream said 503" in error.message
    assert "'second': 400 bad tool schema" in error.message
    # one route: its own error as it was
    upstream = Upstream(m1=[server_error(500)])
    alone = route("alone", "m1", max_attempts=1)
    with pytest.raises(UpstreamError) as caught:
        await routing.run(snapshot(alone), alone, upstream, [])
    assert caught.value.message == "upstream said 500"
