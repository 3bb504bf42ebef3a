"""One real gateway per test module, routed to the echo provider and to a mock
upstream (``mock_upstream.MockUpstream``) speaking both upstream protocols.

Routes (all ``max_attempts=1`` so the mock sees exactly one request per call, each
deployment with ``max_output_tokens=8192`` and reasoning support):

- ``mock-gpt``    -> OpenAI-compatible provider ``mock-openai`` (model ``up-gpt``)
- ``mock-claude`` -> Anthropic provider ``mock-anthropic`` (model ``up-claude``)
- ``mock-claude-2026`` (params: Anthropic API version 2026-10-21, temperature 0.3) and
  ``mock-claude-2026-strict`` (the version only, ``drop_params`` off) -> the same
- ``dead-gpt`` / ``dead-claude`` -> the same kinds at a port nobody listens on
- ``mock-gpt-x<N>`` / ``mock-claude-x<N>``: spare routes for tests that make the
  upstream fail, so failures never put the shared routes into cooldown.

The ``services`` tests' ``database_url`` and ``redis_url``: a migrated PostgreSQL database
and a Redis database of the test module's own (``services.py``); ``everything``: the MCP
conformance suite's reference server, one per test module (``conformance_server.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.live import MASTER_KEY, Gateway, free_port, running_gateway

from .mock_upstream import MockUpstream

OPENAI_SECRET = "sk-upstream-openai-0123456789"
ANTHROPIC_SECRET = "sk-ant-upstream-abcdefghij"
SPARE_ROUTES = 12
MAX_OUTPUT = 8192


def setup_code(mock_url: str, dead_url: str) -> str:
    """Python run in ``manage.py shell`` before the server starts."""
    return f"""
from gateway.models import Deployment, Provider, Route

def provider(name, kind, base_url, secret):
    p = Provider(name=name, kind=kind, base_url=base_url)
    p.set_secret(secret)
    p.save()
    return p

def route(name, provider, model, params=None, drop_params=True):
    r = Route.objects.create(name=name, max_attempts=1, drop_params=drop_params)
    Deployment.objects.create(
        route=r, provider=provider, model=model, max_output_tokens={MAX_OUTPUT},
        context_window=200000, supports_reasoning=True, params=params or {{}},
    )

oa = provider("mock-openai", "openai", "{mock_url}/v1", "{OPENAI_SECRET}")
an = provider("mock-anthropic", "anthropic", "{mock_url}", "{ANTHROPIC_SECRET}")
route("mock-gpt", oa, "up-gpt")
route("mock-claude", an, "up-claude")
route("mock-claude-2026", an, "up-claude", {{"anthropic_version": "2026-10-21", "temperature": 0.3}})
route("mock-claude-2026-strict", an, "up-claude", {{"anthropic_version": "2026-10-21"}}, False)
route("dead-gpt", provider("dead-openai", "openai", "{dead_url}/v1", "sk-dead"), "up-gpt")
route("dead-claude", provider("dead-anthropic", "anthropic", "{dead_url}", "sk-dead"), "x")
for n in range({SPARE_ROUTES}):
    route(f"mock-gpt-x{{n}}", oa, "up-gpt")
    route(f"mock-claude-x{{n}}", an, "up-claude")
"""


@dataclass
class Stack:
    gw: Gateway
    mock: MockUpstream
    key: str = MASTER_KEY
    _spare: dict[str, Iterator[int]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gw.url

    def spare_route(self, upstream: str) -> str:
        """A route nobody used yet on ``upstream`` (``gpt`` or ``claude``)."""
        counter = self._spare.setdefault(upstream, iter(range(SPARE_ROUTES)))
        try:
            return f"mock-{upstream}-x{next(counter)}"
        except StopIteration:
            raise AssertionError("raise SPARE_ROUTES in tests/integration/conftest.py") from None

    def openai(self, *, v1: bool = True, key: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        from openai import OpenAI

        base = self.url + ("/v1" if v1 else "")
        return OpenAI(base_url=base, api_key=key or self.key, max_retries=0, **kwargs)

    def async_openai(self, **kwargs):  # type: ignore[no-untyped-def]
        from openai import AsyncOpenAI

        return AsyncOpenAI(base_url=self.url + "/v1", api_key=self.key, max_retries=0, **kwargs)

    def anthropic(self, *, key: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        from anthropic import Anthropic

        return Anthropic(base_url=self.url, api_key=key or self.key, max_retries=0, **kwargs)

    def assert_clean_log(self) -> None:
        assert "Traceback" not in self.gw.log(), self.gw.log()[-4000:]


def start_stack(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Context manager: a mock upstream and a gateway routed to it."""
    from contextlib import contextmanager

    @contextmanager
    def run() -> Iterator[Stack]:
        mock = MockUpstream().start()
        dead = f"http://127.0.0.1:{free_port()}"
        try:
            with running_gateway(
                tmp_path_factory.mktemp("gateway"),
                env=env,
                setup=[["shell", "-c", setup_code(mock.url, dead)]],
            ) as gw:
                yield Stack(gw=gw, mock=mock)
        finally:
            mock.stop()

    return run()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory) as running:
        yield running


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockUpstream]:
    """The module's mock upstream, emptied before each test."""
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A PostgreSQL database of this module's own on the machine's server, migrated (a
    copy of the test process's migrated template: ``services.migrated_template``)."""
    from .services import own_database

    with own_database() as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis database of this module's own (claimed, emptied before and after)."""
    from tests.own_redis import own_redis_database

    with own_redis_database() as url:
        yield url


@pytest.fixture(scope="module")
def everything() -> Iterator[str]:
    """The MCP reference server's ``/mcp`` URL, one server per test module."""
    from .conformance_server import everything_server

    with everything_server() as url:
        yield url
