"""The gateway in process (its ASGI app on an httpx transport, the snapshot below for the
registry's) in front of mock vendors on 127.0.0.1: the shared mocks where they fit
(``MockUpstream``: OpenAI chat and Anthropic Messages, streamed or not; ``MockGemini``:
the Gemini API with its strict key check and Vertex AI with its OAuth token endpoint;
``MockBedrock``: Converse, verifying every SigV4 signature) and ``VendorMock`` for the
endpoints they do not serve.

Providers and the routes that reach them (each route one deployment):

- ``openai-main`` (OpenAI-compatible at MockUpstream): route ``gpt``, priced;
- ``openai-beta`` (OpenAI-compatible at VendorMock): route ``gpt-beta``;
- ``anthropic`` (MockUpstream): ``claude``; ``gemini`` (MockGemini): ``gemini``;
- ``vertex`` (MockGemini, a service account, project ``proj-mock``): ``vertex``;
- ``bedrock`` (MockBedrock, its test keys): ``nova``.

Keys (``KEYS``, each a raw virtual key): ``main`` (every route but ``gpt-beta``),
``beta`` (``gpt-beta``), ``both`` (every route), ``rpm`` (``gpt-beta``, rpm 1),
``spent`` (``gpt-beta``, its budget spent), ``outsider`` (a route list naming none)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import httpx2
import openai
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http, lifecycle
from gateway.base.entries import GuardrailEntry, KeyEntry, ProviderEntry, RouteEntry, Snapshot
from gateway.journal.record import Record
from gateway.limits import limits, spend
from gateway.server.asgi import application
from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.gateway.entries import route
from tests.gateway.features.passthrough.vendor import VendorMock
from tests.integration.bedrock_upstream import MockBedrock
from tests.integration.mock_gemini import MockGemini
from tests.integration.mock_upstream import MockUpstream

OPENAI_SECRET = "sk-upstream-openai-passthrough-0123"
BETA_SECRET = "sk-upstream-beta-passthrough-4567"
ANTHROPIC_SECRET = "sk-ant-upstream-passthrough-89ab"
KEYS = {
    "main": "sy-pass-main-0123456789abcdef",
    "beta": "sy-pass-beta-0123456789abcdef",
    "both": "sy-pass-both-0123456789abcdef",
    "rpm": "sy-pass-rpm-0123456789abcdef0",
    "spent": "sy-pass-spent-0123456789abcde",
    "outsider": "sy-pass-outsider-0123456789ab",
}
BUDGET = Decimal(1)


@pytest.fixture(scope="module")
def mocks() -> Iterator[tuple[MockUpstream, VendorMock, MockGemini, MockBedrock]]:
    started = (MockUpstream().start(), VendorMock().start(), MockGemini().start())
    bedrock = MockBedrock().start()
    yield (*started, bedrock)
    for mock in (*started, bedrock):
        mock.stop()


@dataclass
class Gateway:
    client: httpx.AsyncClient
    upstream: MockUpstream
    vendor: VendorMock
    gemini: MockGemini
    bedrock: MockBedrock
    records: list[Record]
    routes: dict[str, RouteEntry]
    snapshot: Snapshot
    sent: list[httpx.Request] = field(default_factory=list)  # what the SDKs sent
    # the same app for SDKs on httpx2 (Anthropic's)
    client2: httpx2.AsyncClient | None = None

    def rows(self, key: str) -> list[Record]:
        return [r for r in self.records if r.key_name == key]

    def install(self, **changes: Any) -> None:
        """The snapshot with ``changes`` (guardrails, routes...), installed."""
        self.snapshot = dataclasses.replace(self.snapshot, **changes)
        registry.install(self.snapshot)


def key_entry(number: int, name: str, **fields: Any) -> KeyEntry:
    made: dict[str, Any] = dict(
        id=number, name=name, prefix=KEYS[name][:10], routes=None, rpm_limit=None,
        tpm_limit=None, budget_usd=None, budget_period="month", expires_at=None, revoked=False,
    )  # fmt: skip
    made.update(fields)
    return KeyEntry(**made)


def priced(made: RouteEntry, input_price: str, output_price: str) -> RouteEntry:
    deployments = tuple(
        dataclasses.replace(d, input_price=Decimal(input_price), output_price=Decimal(output_price))
        for d in made.deployments
    )
    return dataclasses.replace(made, deployments=deployments)


@pytest.fixture
async def gw(
    mocks: tuple[MockUpstream, VendorMock, MockGemini, MockBedrock],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    snapshot_reset: None,
) -> AsyncIterator[Gateway]:
    upstream, vendor, gemini, bedrock = mocks
    for mock in (upstream, vendor, gemini):
        mock.reset()
    bedrock.seen.clear()
    settings.REDIS_URL = ""
    limits.reset()
    # served in process: the snapshot below stands for the start-up's (no database)
    monkeypatch.setattr(lifecycle, "_started_loop", asyncio.get_running_loop())
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    spent = {8006: BUDGET}

    async def load_spend(key_id: int, start: Any, end_user: str | None = None) -> Decimal:
        return spent.get(key_id, Decimal(0))

    monkeypatch.setattr(spend, "load_spend", load_spend)
    ON = {"passthrough": "on"}  # off unless the operator turns it on
    account = gemini.service_account("proj-mock")
    providers = {
        "main": ProviderEntry(7001, "openai-main", "openai", f"{upstream.url}/v1", OPENAI_SECRET, {}, "", None, settings=ON),
        "beta": ProviderEntry(7002, "openai-beta", "openai", f"{vendor.url}/v1", BETA_SECRET, {}, "", None, settings=ON),
        "anthropic": ProviderEntry(7003, "anthropic", "anthropic", upstream.url, ANTHROPIC_SECRET, {}, "", None, settings=ON),
        "gemini": ProviderEntry(7004, "gemini", "gemini", gemini.url, gemini.api_key, {}, "", None, settings=ON),
        "vertex": ProviderEntry(
            7005, "vertex", "vertex_ai", gemini.url, json.dumps(account), {}, "", None,
            settings={**ON, "vertex_project": "proj-mock", "vertex_location": "us-central1"},
        ),
        "bedrock": ProviderEntry(
            7006, "bedrock", "bedrock", bedrock.url, SECRET_KEY, {}, "", None,
            settings={**ON, "aws_region_name": REGION, "aws_access_key_id": ACCESS_KEY},
        ),
    }  # fmt: skip
    routes = {
        "gpt": priced(route("gpt", "up-gpt", provider=providers["main"]), "1", "2"),
        "gpt-beta": route("gpt-beta", "up-gpt", provider=providers["beta"]),
        "claude": route("claude", "up-claude", provider=providers["anthropic"]),
        "gemini": route("gemini", "gemini-2.5-flash", provider=providers["gemini"]),
        "vertex": route("vertex", "gemini-2.5-flash", provider=providers["vertex"]),
        "nova": route("nova", "amazon.nova-pro-v1:0", provider=providers["bedrock"]),
    }
    everything_but_beta = frozenset(routes) - {"gpt-beta"}
    keys = [
        key_entry(8001, "main", routes=everything_but_beta),
        key_entry(8002, "beta", routes=frozenset({"gpt-beta"})),
        key_entry(8003, "both"),
        key_entry(8004, "rpm", routes=frozenset({"gpt-beta"}), rpm_limit=1),
        key_entry(8006, "spent", routes=frozenset({"gpt-beta"}), budget_usd=BUDGET),
        key_entry(8007, "outsider", routes=frozenset({"other"})),
    ]
    snapshot = Snapshot(
        version=1,
        routes=routes,
        providers={p.name: p for p in providers.values()},
        keys={hashlib.sha256(KEYS[k.name].encode()).hexdigest(): k for k in keys},
    )
    registry.install(snapshot)
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        await request.aread()
        sent.append(request)

    transport = httpx.ASGITransport(app=application)
    async with (
        httpx.AsyncClient(
            transport=transport, base_url="http://gw", event_hooks={"request": [keep]}
        ) as client,
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=application), base_url="http://gw"
        ) as client2,
    ):
        yield Gateway(
            client, upstream, vendor, gemini, bedrock, records, routes, snapshot, sent, client2
        )
    http.use_transport(None)
    limits.reset()


def blocking(word: str) -> GuardrailEntry:
    """A default-on pre_call guardrail refusing ``word``."""
    return GuardrailEntry(
        id=9901,
        name="words",
        kind="litellm_content_filter",
        modes=frozenset({"pre_call"}),
        params={"blocked_words": [{"keyword": word, "action": "BLOCK"}]},
        default_on=True,
    )


MODEL = {"id": "up-gpt", "object": "model", "created": 1700000000, "owned_by": "vendor"}


def oai(
    gw: Gateway, key: str, base: str = "/openai_passthrough/v1", **more: Any
) -> openai.AsyncOpenAI:
    """The OpenAI SDK with ``key``, its base URL a passthrough prefix of the gateway."""
    return openai.AsyncOpenAI(
        base_url=f"http://gw{base}", api_key=KEYS[key], http_client=gw.client, max_retries=0, **more
    )
