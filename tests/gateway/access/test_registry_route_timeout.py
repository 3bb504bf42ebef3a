"""A route's timeout applies to its own deployments only: another route on the same
provider keeps the provider's (or the default) timeout."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.models import Deployment, Provider, Route
from tests.gateway.routing.test_routing import completion


@pytest.fixture
def seen(snapshot_reset, settings):
    settings.SWITCHYARD_READ_TIMEOUT = 600
    requests: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/v1/messages"):  # the Anthropic adapter
            return httpx.Response(200, json=ANTHROPIC_MESSAGE)
        return httpx.Response(200, json=completion("hi"))

    http.use_transport(httpx.MockTransport(upstream))
    return requests


ANTHROPIC_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "up",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def two_routes_on_one_provider(provider_timeout: float | None = None, kind: str = "openai") -> None:
    base_url = "http://shared/v1" if kind == "openai" else "http://shared"
    shared = Provider.objects.create(
        name="shared", kind=kind, base_url=base_url, timeout=provider_timeout
    )
    for name, timeout in (("quick", 5.0), ("patient", None)):
        route = Route.objects.create(name=name, timeout=timeout)
        Deployment.objects.create(route=route, provider=shared, model=f"{name}-model")
    registry.rebuild()


async def read_timeout_of(model: str, dialect: str, seen: list[httpx.Request]) -> float:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if dialect == "anthropic":
        payload["max_tokens"] = 16
    reply = await service.handle(
        "chat", dialect, orjson.dumps(payload), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200, reply.body
    return seen[-1].extensions["timeout"]["read"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_a_route_timeout_never_shortens_another_routes_calls(seen, dialect, kind):
    from asgiref.sync import sync_to_async

    await sync_to_async(two_routes_on_one_provider)(kind=kind)
    assert await read_timeout_of("quick", dialect, seen) == 5.0
    assert await read_timeout_of("patient", dialect, seen) == 600  # the default, not 5
    assert await read_timeout_of("quick", dialect, seen) == 5.0


@pytest.mark.django_db(transaction=True)
async def test_a_route_without_timeout_keeps_its_providers(seen):
    from asgiref.sync import sync_to_async

    await sync_to_async(two_routes_on_one_provider)(provider_timeout=42.0)
    assert await read_timeout_of("patient", "openai", seen) == 42.0
    assert await read_timeout_of("quick", "openai", seen) == 5.0  # its own wins


@pytest.mark.django_db
def test_the_snapshot_gives_each_route_its_own_view_of_the_provider(snapshot_reset):
    two_routes_on_one_provider()
    snapshot = registry.current()
    (quick,) = snapshot.route("quick").deployments
    (patient,) = snapshot.route("patient").deployments
    assert snapshot.route("quick").timeout == 5.0
    assert quick.provider.timeout == 5.0
    assert patient.provider.timeout is None
    assert snapshot.providers["shared"].timeout is None  # the provider itself is untouched
    assert quick.provider.name == patient.provider.name == "shared"
