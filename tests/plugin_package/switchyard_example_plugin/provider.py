"""The ``example_upper`` provider kind: the last user text back in capitals, whole or
streamed a word at a time; no network, no key."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    Usage,
    UsageEvent,
)
from gateway.catalog.matching import KindVendor
from gateway.providers.base import Exchange, Provider
from gateway.providers.kinds import Keyless


def _answer(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return " ".join(p.text for p in message.parts if isinstance(p, Text)).upper()
    return ""


def _usage(request: ChatRequest, answer: str) -> Usage:
    asked = sum(
        len(p.text.split()) for m in request.messages for p in m.parts if isinstance(p, Text)
    )
    return Usage(input_tokens=asked, output_tokens=len(answer.split()))


class UpperProvider(Provider):
    kind = "example_upper"
    needs_base_url = False
    answers_any_model = True
    max_output_tokens = 4096
    # the facts every kind states itself (gateway/providers/base.py DECLARED_FACTS)
    documents = Accepts()  # no document parts
    catalog_vendor = KindVendor()  # no catalog entry: its figures are its own
    keyless = Keyless()  # needs no key
    trace_name = "example_upper"

    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        exchange.begin("upper://" + deployment.model, b"")
        answer = _answer(request)
        exchange.usage = _usage(request, answer)
        exchange.end()
        return ChatResponse(
            id="upper-" + uuid.uuid4().hex[:12],
            model=deployment.model,
            parts=[Text(answer)],
            finish_reason="stop",
            usage=exchange.usage,
            created=int(time.time()),
        )

    async def stream(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[StreamEvent]:
        exchange.begin("upper://" + deployment.model, b"")
        answer = _answer(request)
        exchange.received(b"")
        yield Start(id="upper-" + uuid.uuid4().hex[:12], model=deployment.model)
        yield PartStart(0, "text")
        for n, word in enumerate(answer.split(" ")):
            yield TextDelta(0, word if n == 0 else " " + word)
        yield PartStop(0)
        exchange.usage = _usage(request, answer)
        exchange.end()
        yield UsageEvent(exchange.usage)
        yield Finish("stop")

    async def list_models(self) -> list[str]:
        return ["upper"]
