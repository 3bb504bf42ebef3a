"""Cache-aware routing: requests sharing a prompt prefix stick to the deployment that
served it while its cache is warm, unless it cools down or is at its cap; other
prefixes are drawn by weight as before; the affinity ends with the upstream's TTL.
Routing runs for real with a fake clock (``test_routing.FakeTime``)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.types import ChatRequest, Message, Text, Tool
from gateway.providers import kinds
from gateway.routing import prefix_affinity, routing
from gateway.routing.prefix_affinity import AffinityTable, prefix_key
from tests.gateway.conftest import FakeTime
from tests.gateway.entries import route, snapshot

pytestmark = pytest.mark.usefixtures("fake_time")


@pytest.fixture
def clock(fake_time: FakeTime) -> FakeTime:
    return fake_time


async def serve(entry: RouteEntry, prefix: int | None) -> str:
    async def call(route: RouteEntry, deployment: DeploymentEntry) -> str:
        return deployment.model

    return await routing.run(snapshot(entry), entry, call, [], prefix=prefix)


async def test_the_same_prefix_sticks_to_one_deployment_while_warm(clock: FakeTime):
    pair = route("pair", "a", "b")
    first = await serve(pair, 1234)
    for _ in range(40):  # a coin each time without affinity: 2^-40 to stay by chance
        clock.now += 60  # each use keeps the cache warm for another 5 minutes
        assert await serve(pair, 1234) == first
    assert clock.now - 1000 > 300 * 5  # far past one TTL, refreshed by every hit


async def test_different_prefixes_are_drawn_by_weight_as_before():
    pair = route("pair", "a", "b")
    served = Counter([await serve(pair, prefix) for prefix in range(2_000)])
    assert abs(served["a"] / 2_000 - 0.5) < 0.05
    weighted = route("weighted", "a", "b", weights=[3.0, 1.0])
    served = Counter([await serve(weighted, 7) for _ in range(2_000)])  # one prefix
    assert abs(served["a"] / 2_000 - 0.75) < 0.05  # unequal weights: no affinity


async def test_no_prefix_means_no_affinity():
    pair = route("pair", "a", "b")
    served = Counter([await serve(pair, None) for _ in range(400)])
    assert served["a"] > 100 and served["b"] > 100
    assert len(routing.affinity) == 0


async def test_a_cooling_deployment_breaks_the_affinity(clock: FakeTime):
    pair = route("pair", "a", "b")
    first = await serve(pair, 99)
    sticky = next(d for d in pair.deployments if d.model == first)
    routing.health.cool_until[sticky.id] = clock.now + 30
    other = await serve(pair, 99)
    assert other != first
    # the prefix now lives on the other deployment: it stays there after the cooldown
    clock.now += 31
    routing.health.cool_until.pop(sticky.id)
    assert {await serve(pair, 99) for _ in range(20)} == {other}


async def test_a_deployment_at_its_cap_breaks_the_affinity(clock: FakeTime):
    plain = route("pair", "a", "b")
    capped = tuple(dataclasses.replace(d, rpm=3) for d in plain.deployments)
    pair = dataclasses.replace(plain, deployments=capped)
    clock.now = 6000.0  # the start of a minute
    served = [await serve(pair, 5) for _ in range(6)]
    assert served[:3] == [served[0]] * 3  # sticky until its 3 requests a minute are used
    assert served[3:] == [served[3]] * 3 and served[3] != served[0]


async def test_the_affinity_ends_with_the_upstreams_cache(clock: FakeTime):
    pair = route("pair", "a", "b")  # an OpenAI-kind provider: warm for 5 minutes
    firsts = {prefix: await serve(pair, prefix) for prefix in range(200)}
    clock.now += 299
    assert [await serve(pair, p) for p in firsts] == list(firsts.values())  # refreshed
    clock.now += 301  # idle past the TTL: every prefix is drawn afresh
    assert routing.affinity.preferred("pair", 0, clock.now) is None
    moved = sum([await serve(pair, p) != d for p, d in firsts.items()])
    assert 60 < moved < 140  # about half land elsewhere, as a fresh draw would


def test_warm_seconds_follow_the_upstream_kind():
    pair = route("pair", "a")
    openai_kind = pair.deployments[0]
    assert prefix_affinity.warm_seconds(openai_kind) == 300
    for kind, seconds in (("anthropic", 300), ("bedrock", 300), ("gemini", 180)):
        provider = dataclasses.replace(openai_kind.provider, kind=kind)
        entry = dataclasses.replace(openai_kind, provider=provider)
        assert prefix_affinity.warm_seconds(entry) == seconds


def test_vertex_ai_gets_the_window_of_googles_implicit_cache():
    """Vertex AI (kind ``vertex_ai``) caches implicitly as the Gemini API does: 3 minutes,
    not the 5 of an unknown kind (a table keyed "vertex" once missed it)."""
    deployment = route("pair", "a").deployments[0]
    vertex = dataclasses.replace(deployment.provider, kind="vertex_ai")
    assert prefix_affinity.warm_seconds(dataclasses.replace(deployment, provider=vertex)) == 180


def test_every_kind_has_the_warm_seconds_its_adapter_declares():
    """Vertex AI caches implicitly as the Gemini API does (3 minutes); the Responses API
    is OpenAI's (5 minutes). Read from the adapter class, so no kind is missed by name."""
    deployment = route("pair", "a").deployments[0]
    expected = {"vertex_ai": 180, "gemini": 180, "openai_responses": 300, "azure": 300}
    for kind in kinds.KINDS:
        entry = dataclasses.replace(
            deployment, provider=dataclasses.replace(deployment.provider, kind=kind)
        )
        seconds = prefix_affinity.warm_seconds(entry)
        assert seconds == kinds.adapter_class(kind).prompt_cache_seconds
        assert seconds == expected.get(kind, seconds), kind
    unknown = dataclasses.replace(deployment.provider, kind="not-a-kind")
    assert prefix_affinity.warm_seconds(dataclasses.replace(deployment, provider=unknown)) == 300


def test_the_table_is_bounded_least_recently_used_first():
    table = AffinityTable(max_entries=3)
    d = route("r", "a").deployments[0]
    for prefix in (1, 2, 3):
        table.remember("r", prefix, d, 0.0)
    assert table.preferred("r", 1, 1.0) == d.id  # 1 is now the most recently used
    table.remember("r", 4, d, 0.0)
    assert len(table) == 3
    assert table.preferred("r", 2, 1.0) is None  # the least recently used went
    assert table.preferred("r", 1, 1.0) == d.id
    table.forget({d.id})  # the deployment changed: its prefixes are drawn afresh
    assert len(table) == 0


def agent(system: str, first: str, later: str = "", tools=("read", "write")) -> ChatRequest:
    messages = [Message(role="user", parts=[Text(first)])]
    if later:
        messages += [
            Message(role="assistant", parts=[Text("ok")]),
            Message(role="user", parts=[Text(later)]),
        ]
    return ChatRequest(
        model="m",
        system=[Text(system)],
        tools=[Tool(name=n) for n in tools],
        messages=messages,
    )


def prefix_key_of(request: ChatRequest) -> int | None:
    return prefix_key(request, 2_000)


def test_the_prefix_key_is_the_tools_system_and_first_turns():
    base = prefix_key_of(agent("You are a coder.", "fix the bug", "and the test"))
    assert base is not None
    # turns after the first are not part of it: a conversation keeps its key
    assert prefix_key_of(agent("You are a coder.", "fix the bug")) == base
    assert prefix_key_of(agent("You are a coder.", "fix the bug", "now the docs")) == base
    longer = agent("You are a coder.", "fix the bug", "and the test")
    longer.messages.append(Message(role="assistant", parts=[Text("done")]))
    assert prefix_key_of(longer) == base
    # tools, system and the first turns are
    assert prefix_key_of(agent("You are a reviewer.", "fix the bug", "and the test")) != base
    assert prefix_key_of(agent("You are a coder.", "fix the docs", "and the test")) != base
    assert (
        prefix_key_of(agent("You are a coder.", "fix the bug", "and the test", ("read",))) != base
    )
    # a single short question shares nothing worth steering for
    one = ChatRequest(model="m", messages=[Message(role="user", parts=[Text("hi")])])
    assert prefix_key(one, 10) is None  # too short for any upstream to cache


def test_the_prefix_key_reads_a_bounded_head_of_each_text():
    """Cost stays flat with the prompt's size: only each text's length and head count."""
    huge = "x" * 1_000_000
    assert prefix_key_of(agent(huge, "a")) == prefix_key_of(agent(huge, "a"))
    assert prefix_key_of(agent(huge, "a")) != prefix_key_of(agent(huge + "y", "a"))  # length
