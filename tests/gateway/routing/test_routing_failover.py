"""Failover on errors that retrying the same deployment cannot fix: a configuration error
(no connection, no retry, no cooldown) and an upstream 401/403/404 (the gateway's
credentials or the model name). Both move on to siblings and fallbacks; alone, the
caller gets a 500/502 in its own dialect, never a 401/403 it would take for its own."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, DeploymentEntry, ProviderEntry, RouteEntry
from gateway.base.errors import (
    ConfigurationError,
    MissingSecret,
    ModelNotFound,
    UpstreamError,
    UpstreamRejected,
)
from gateway.core import service
from gateway.routing import routing
from tests.gateway.conftest import FakeTime
from tests.gateway.entries import _ids, deployment, route, snapshot
from tests.gateway.routing.test_routing import Upstream, completion, server_error

UNSET = "SWITCHYARD_TEST_SURELY_UNSET_KEY"
SECRET = "sk-upstream-0123456789-distinctive"


@pytest.fixture
def fake(monkeypatch, settings) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(routing, "clock", fake.clock)
    monkeypatch.setattr(routing, "sleep", fake.sleep)
    monkeypatch.delenv(UNSET, raising=False)
    routing.reset()
    settings.SWITCHYARD_COOLDOWN_FAILURES = 1  # any counted failure would cool at once
    yield fake
    routing.reset()


def misconfigured(message: str = f"provider 'p': environment variable {UNSET} is not set"):
    return ConfigurationError(message)


# --- configuration errors, in routing ---------------------------------------------------


async def test_a_configuration_error_is_not_retried_and_moves_to_the_sibling(fake):
    r = route("r", "broken", "fine", weights=[1000.0, 0.001])
    upstream = Upstream(broken=[misconfigured()])
    attempts = []
    assert await routing.run(snapshot(r), r, upstream, attempts) == "ok from fine"
    assert upstream.calls == ["broken", "fine"]
    assert fake.sleeps == []  # no backoff
    assert [a.status for a in attempts] == [500, 200]
    assert UNSET in attempts[0].error
    broken = r.deployments[0]
    assert broken.id not in routing.health.failures  # no cooldown count
    assert not routing.health.cooling(broken.id, fake.now)


async def test_a_configuration_error_moves_to_the_fallback(fake):
    r = route("r", "broken", fallbacks=["backup"])
    backup = route("backup", "spare")
    upstream = Upstream(broken=[misconfigured()])
    assert await routing.run(snapshot(r, backup), r, upstream, []) == "ok from spare"
    assert upstream.calls == ["broken", "spare"]
    assert fake.sleeps == []


async def test_a_missing_secret_raised_anywhere_in_the_call_is_a_configuration_error(fake):
    # e.g. a base URL stored as os.environ/NAME and resolved by the adapter
    r = route("r", "broken", "fine", weights=[1000.0, 0.001])
    upstream = Upstream(broken=[MissingSecret(f"environment variable {UNSET} is not set")])
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from fine"
    assert upstream.calls == ["broken", "fine"]


async def test_a_lone_configuration_error_names_the_deployment_and_the_variable(fake):
    r = route("claude", "broken", max_attempts=3)
    upstream = Upstream(broken=[misconfigured()])
    with pytest.raises(ConfigurationError) as raised:
        await routing.run(snapshot(r), r, upstream, [])
    error = raised.value
    assert error.status == 500 and error.code == "deployment_misconfigured"
    assert "'mock/broken'" in error.message and "'claude'" in error.message
    assert UNSET in error.message
    assert upstream.calls == ["broken"] and fake.sleeps == []


# --- 401 / 403 / 404, in routing ----------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_rejecting_deployment_is_not_retried_but_fails_over(fake, status):
    r = route("r", "a", "b", weights=[1000.0, 0.001], fallbacks=["other"])
    other = route("other", "c")
    upstream = Upstream(a=[server_error(status)])
    assert await routing.run(snapshot(r, other), r, upstream, []) == "ok from b"
    assert upstream.calls == ["a", "b"]
    assert fake.sleeps == []
    # a sibling or fallback may have taken over: a counted failure (cools at 1 here)
    assert routing.health.cooling(r.deployments[0].id, fake.now)


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_rejecting_route_hands_over_to_its_fallback(fake, status):
    r = route("r", "a", "b", fallbacks=["other"])
    other = route("other", "c")
    upstream = Upstream(a=[server_error(status)], b=[server_error(status)])
    assert await routing.run(snapshot(r, other), r, upstream, []) == "ok from c"
    assert sorted(upstream.calls[:2]) == ["a", "b"] and upstream.calls[2:] == ["c"]


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_credentials_alone_are_a_502_naming_provider_and_status(fake, status):
    r = route("claude", "only", max_attempts=3)
    upstream = Upstream(only=[server_error(status)])
    with pytest.raises(UpstreamRejected) as raised:
        await routing.run(snapshot(r), r, upstream, [])
    error = raised.value
    assert error.status == 502 and error.kind == "api_error"
    assert f"upstream provider 'mock' rejected the gateway's credentials ({status})" in (
        error.message
    )
    assert upstream.calls == ["only"]  # not retried on itself
    assert not routing.health.cooling(r.deployments[0].id, fake.now)  # lone: never cooled


async def test_an_unknown_model_alone_is_a_404_naming_provider_and_model(fake):
    r = route("claude", "no-such-model")
    upstream = Upstream(**{"no-such-model": [server_error(404)]})
    with pytest.raises(ModelNotFound) as raised:
        await routing.run(snapshot(r), r, upstream, [])
    assert raised.value.status == 404 and raised.value.code == "model_not_found"
    assert "'mock'" in raised.value.message and "'no-such-model'" in raised.value.message
    assert "(404)" in raised.value.message
    assert "upstream said 404" in raised.value.message  # its words, for a wrong base URL
    assert upstream.calls == ["no-such-model"]


async def test_an_unknown_model_with_a_sibling_fails_over_as_before(fake):
    r = route("r", "no-such-model", "fine", weights=[1000.0, 0.001])
    upstream = Upstream(**{"no-such-model": [server_error(404)]})
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from fine"
    assert upstream.calls == ["no-such-model", "fine"]


# --- through the service, with a mock transport -------------------------------------------


def provider(name: str, secret: str, kind: str = "openai") -> ProviderEntry:
    return ProviderEntry(next(_ids), name, kind, f"http://{name}/v1", secret, {}, "", None)


def route_of(name: str, *providers: ProviderEntry, fallbacks=()) -> RouteEntry:
    deployments: tuple[DeploymentEntry, ...] = tuple(
        deployment(name, "up-model", provider=p) for p in providers
    )
    return RouteEntry(
        id=next(_ids),
        name=name,
        enabled=True,
        strategy="weighted",
        deployments=deployments,
        fallbacks=tuple(fallbacks),
        context_window_fallbacks=(),
        drop_params=True,
        default_params={},
        max_attempts=3,
        created=0,
    )


class Transport:
    """A mock upstream answering per host: a status (with an error body) or a completion."""

    def __init__(self, **statuses: int) -> None:
        self.statuses = statuses
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        status = self.statuses.get(request.url.host, 200)
        if status != 200:
            return httpx.Response(
                status,
                json={"error": {"message": f"Incorrect API key provided: {SECRET[:8]}..."}},
            )
        return httpx.Response(200, json=completion(f"hi from {request.url.host}"))


def body(dialect: str, model: str) -> bytes:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if dialect == "anthropic":
        payload["max_tokens"] = 16
    return orjson.dumps(payload)


def error_of(dialect: str, reply) -> dict:
    data = orjson.loads(reply.body)
    if dialect == "anthropic":
        assert data["type"] == "error"
    return data["error"]


@pytest.fixture
def upstream(fake, snapshot_reset):
    transport = Transport(rejecting=401, forbidding=403, missing=404)
    http.use_transport(httpx.MockTransport(transport))
    return transport


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_an_unset_secret_makes_no_connection_and_names_deployment_and_variable(
    upstream, dialect
):
    registry.install(snapshot(route_of("gpt", provider("unset", f"os.environ/{UNSET}"))))
    reply = await service.handle(
        "chat", dialect, body(dialect, "gpt"), {}, service.Caller(key=MASTER)
    )
    assert upstream.seen == []  # no outbound connection at all
    assert reply.status == 500
    error = error_of(dialect, reply)
    assert error["type"] == "api_error"
    assert "'unset/up-model'" in error["message"] and UNSET in error["message"]
    assert (b"x-switchyard-attempts", b"1") in reply.headers


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_an_unset_secret_fails_over_to_the_sibling(upstream, dialect):
    broken, fine = provider("unset", f"os.environ/{UNSET}"), provider("fine", SECRET)
    registry.install(snapshot(route_of("gpt", broken, fine)))
    for _ in range(5):  # whichever the weighted choice tries first
        reply = await service.handle(
            "chat", dialect, body(dialect, "gpt"), {}, service.Caller(key=MASTER)
        )
        assert reply.status == 200, reply.body
    assert {r.url.host for r in upstream.seen} == {"fine"}
    assert routing.health.failures == {} and routing.health.cool_until == {}


async def test_an_unknown_provider_kind_is_a_configuration_error_that_fails_over(upstream):
    odd = provider("odd", SECRET, kind="no-such-kind")
    registry.install(
        snapshot(route_of("gpt", odd, fallbacks=["spare"]), route_of("spare", provider("ok", "")))
    )
    reply = await service.handle(
        "chat", "openai", body("openai", "gpt"), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200
    assert [r.url.host for r in upstream.seen] == ["ok"]


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize(("host", "status"), [("rejecting", 401), ("forbidding", 403)])
async def test_upstream_rejecting_the_gateway_key_is_not_the_callers_401(
    upstream, dialect, host, status
):
    registry.install(snapshot(route_of("gpt", provider(host, SECRET))))
    reply = await service.handle(
        "chat", dialect, body(dialect, "gpt"), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 502
    error = error_of(dialect, reply)
    assert error["type"] == "api_error"
    assert (
        f"upstream provider '{host}' rejected the gateway's credentials ({status})"
        in (error["message"])
    )
    assert SECRET[:8] not in reply.body.decode()
    assert len(upstream.seen) == 1  # not retried


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_upstream_404_fails_over_then_is_a_404_in_the_callers_dialect(upstream, dialect):
    registry.install(
        snapshot(
            route_of("gpt", provider("missing", SECRET), fallbacks=["spare"]),
            route_of("spare", provider("fine", SECRET)),
        )
    )
    reply = await service.handle(
        "chat", dialect, body(dialect, "gpt"), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200
    assert [r.url.host for r in upstream.seen] == ["missing", "fine"]

    registry.install(snapshot(route_of("gpt", provider("missing", SECRET))))
    reply = await service.handle(
        "chat", dialect, body(dialect, "gpt"), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 404
    error = error_of(dialect, reply)
    assert "(404)" in error["message"] and "'missing'" in error["message"]
    assert "'up-model'" in error["message"] and SECRET[:8] not in reply.body.decode()
    if dialect == "openai":
        assert (error["type"], error["code"]) == ("invalid_request_error", "model_not_found")
    else:
        assert error["type"] == "not_found_error"


async def test_count_tokens_counts_locally_when_the_upstream_is_misconfigured(upstream):
    anthropic = provider("unset", f"os.environ/{UNSET}", kind="anthropic")
    registry.install(snapshot(route_of("claude", anthropic)))
    reply = await service.handle(
        "count_tokens",
        "anthropic",
        orjson.dumps({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
        {},
        service.Caller(key=MASTER),
    )
    assert reply.status == 200, reply.body
    assert orjson.loads(reply.body)["input_tokens"] > 0
    assert (b"x-switchyard-token-count", b"estimate") in reply.headers
    assert upstream.seen == []


def test_upstream_rejected_is_never_retryable() -> None:
    assert not UpstreamRejected("x").retryable
    assert isinstance(UpstreamRejected("x"), UpstreamError)


async def test_a_stream_fails_over_from_an_unset_secret_before_the_first_byte(fake, snapshot_reset):
    seen: list[str] = []

    def sse(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "up-model",
            "choices": [{"index": 0, "delta": {"content": "streamed"}, "finish_reason": "stop"}],
        }
        text = f"data: {orjson.dumps(chunk).decode()}\n\ndata: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    http.use_transport(httpx.MockTransport(sse))
    broken = provider("unset", f"os.environ/{UNSET}")
    registry.install(
        snapshot(
            route_of("gpt", broken, fallbacks=["spare"]), route_of("spare", provider("ok", ""))
        )
    )
    payload = {"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    reply = await service.handle(
        "chat", "openai", orjson.dumps(payload), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200
    streamed = b"".join([chunk async for chunk in reply.chunks])
    assert b"streamed" in streamed and b"[DONE]" in streamed
    assert seen == ["ok"]
    assert (b"x-switchyard-attempts", b"2") in reply.headers
