"""Micro-measurement of cache-aware routing's hot-path cost: ``prefix_key`` of an agent
request (tools, a long system prompt, a few turns) and the affinity table's lookup and
update. Run: ``PYTHONPATH=. python bench/prefix_key.py`` (no Django settings needed).

Measured 2026-11-23 on the shared 2-core dev machine: prefix_key 3.2-4.9 us for 1 kB,
40 kB and 400 kB system prompts (flat: bounded heads); preferred + remember on a
full 50,000-entry table 1.3-1.8 us."""

from __future__ import annotations

import timeit

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.types import ChatRequest, Message, Text, Tool
from gateway.routing.prefix_affinity import AffinityTable, prefix_key


def agent_request(system_chars: int) -> ChatRequest:
    return ChatRequest(
        model="m",
        system=[Text("You are a careful coding agent. " * (system_chars // 32))],
        tools=[Tool(name=n, description="d" * 400) for n in ("read", "write", "bash", "grep")],
        messages=[
            Message(role="user", parts=[Text("fix the failing test in tests/test_x.py " * 20)]),
            Message(role="assistant", parts=[Text("Looking at the test now.")]),
            Message(role="user", parts=[Text("and run it again")]),
        ],
    )


def main() -> None:
    from decimal import Decimal

    provider = ProviderEntry(1, "p", "anthropic", "http://x", "", {}, "", None)
    deployment = DeploymentEntry(
        id=1, route="r", provider=provider, model="m", weight=1.0, rpm=None, tpm=None,
        input_price=Decimal(0), output_price=Decimal(0), cache_read_price=Decimal(0),
        cache_write_price=Decimal(0), context_window=None, max_output_tokens=None,
        supports_tools=True, supports_vision=True, supports_reasoning=False, params={},
    )  # fmt: skip
    for size in (1_000, 40_000, 400_000):
        request = agent_request(size)
        n = 100_000

        def key(request: ChatRequest = request) -> int | None:
            return prefix_key(request, 5_000)

        seconds = timeit.timeit(key, number=n)
        print(f"prefix_key, {size:>7,}-char system prompt: {seconds / n * 1e6:.2f} us")
    table = AffinityTable()
    for prefix in range(50_000):  # a full table
        table.remember("r", prefix, deployment, 0.0)
    n = 200_000
    seconds = timeit.timeit(
        lambda: (table.preferred("r", 777, 1.0), table.remember("r", 777, deployment, 1.0)),
        number=n,
    )
    print(f"preferred + remember on a full table (50,000): {seconds / n * 1e6:.2f} us")


if __name__ == "__main__":
    main()
