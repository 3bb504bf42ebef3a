"""Shared set-up for the playground tests: echo routes in the database (the consumer
rebuilds the registry from it), staff and non-staff users, a slow mock upstream whose
stream records being closed, and a recorder for journal records."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import orjson

from gateway import journal
from gateway.access import registry
from gateway.models import Deployment, Provider, Route


def make_echo_routes(routes: dict[str, dict]) -> None:
    """Routes served by the built-in echo provider, one deployment each with ``params``."""
    provider, _ = Provider.objects.get_or_create(name="echo", defaults={"kind": "echo"})
    for name, params in routes.items():
        route = Route.objects.create(name=name, max_attempts=1)
        Deployment.objects.create(
            route=route,
            provider=provider,
            model=f"{name}-model",
            params=params,
            input_price=Decimal("1.00"),
            output_price=Decimal("2.00"),
        )
    registry.rebuild()


def make_user(username: str, *, staff: bool):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username, password="pw-" + username, is_staff=staff
    )


class SlowUpstream(httpx.AsyncByteStream):
    """An OpenAI-compatible SSE stream: one word every ``delay`` seconds, for ever
    (until closed). ``closed`` tells whether the gateway hung up."""

    instances: list[SlowUpstream] = []

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.closed = asyncio.Event()
        self.sent = 0
        SlowUpstream.instances.append(self)

    async def __aiter__(self):
        while True:
            chunk = {
                "id": "chatcmpl-slow",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "slow",
                "choices": [{"index": 0, "delta": {"content": f" word{self.sent}"}}],
            }
            self.sent += 1
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            await asyncio.sleep(self.delay)

    async def aclose(self) -> None:
        self.closed.set()


def slow_transport() -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=SlowUpstream()
        )

    return httpx.MockTransport(handler)


def make_slow_openai_route(name: str) -> None:
    provider = Provider.objects.create(
        name="slow-upstream", kind="openai", base_url="http://slow/v1"
    )
    route = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(route=route, provider=provider, model="slow")
    registry.rebuild()


class JournalRecorder:
    """Collects the journal records the service hands over (instead of the writer)."""

    def __init__(self) -> None:
        self.records: list[journal.Record] = []

    def __call__(self, record: journal.Record) -> None:
        self.records.append(record)
