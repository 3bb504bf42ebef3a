"""What the MCP sign-in (OAuth) costs on ``/mcp``'s credential check, in process:

- a virtual key: ``endpoint._authenticate`` against the check it replaced (the same
  snapshot lookup, without the token-prefix test);
- an OAuth access token already seen (the cached path): ``tokens.check``, which reads the
  remembered row, the expiry and resource, and the acting entry (cached per snapshot).

No database: the snapshot and the token cache are filled by hand. ``/v1`` is not touched
by the change (none of its modules import the OAuth server). Run:

    PYTHONPATH=. DJANGO_SETTINGS_MODULE=gateway.server.settings python bench/mcp_oauth_check.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVarTuple

import django

django.setup()

from gateway.access import registry  # noqa: E402
from gateway.base.entries import MASTER, KeyEntry, Snapshot  # noqa: E402
from gateway.features.mcp import endpoint  # noqa: E402
from gateway.features.mcp.oauth_server import tokens  # noqa: E402

N = 200_000


async def before(raw: str) -> KeyEntry | None:
    """The check as it was before the sign-in (gateway/features/mcp/endpoint.py at main)."""
    key = registry.current().key(raw)
    if key is None and raw:
        await registry.refresh_on_miss()
        key = registry.current().key(raw)
    if key is None or key.revoked:
        return None
    if key.expires_at is not None and key.expires_at.timestamp() <= time.time():
        return None
    return key


Ts = TypeVarTuple("Ts")


async def timed(label: str, fn: Callable[[*Ts], Awaitable[object]], *args: *Ts) -> float:
    for _ in range(1000):
        await fn(*args)
    started = time.perf_counter()
    for _ in range(N):
        await fn(*args)
    per = (time.perf_counter() - started) / N * 1e6
    print(f"{label:<46} {per:6.2f} µs")
    return per


async def main() -> None:
    raw_key = "sy-" + "k" * 40
    key = dataclasses.replace(MASTER, id=7, name="k", user_id=3, mcp_allowed=frozenset({"web"}))
    managed = dataclasses.replace(MASTER, id=8, name="mcp-oauth:u", prefix="mcp-oauth", user_id=3)
    managed_hash = hashlib.sha256(b"managed").hexdigest()
    keys = {hashlib.sha256(raw_key.encode()).hexdigest(): key, managed_hash: managed}
    for i in range(2000):  # a registry of a realistic size
        keys[f"{i:064x}"] = dataclasses.replace(key, id=100 + i, user_id=1000 + i)
    registry.install(Snapshot(version=1, keys=keys))
    raw_token = tokens.ACCESS_PREFIX + "t" * 43
    facts = tokens.TokenFacts(3, managed_hash, "http://gw/mcp", time.time() + 3600, False, True)
    tokens._cache[hashlib.sha256(raw_token.encode()).hexdigest()] = (time.monotonic(), facts)
    assert (await endpoint._authenticate(raw_token, "/mcp"))[0] is not None

    old = await timed("virtual key, check before the sign-in", before, raw_key)
    new = await timed(
        "virtual key, endpoint._authenticate now", endpoint._authenticate, raw_key, "/mcp"
    )
    await timed("OAuth token seen before, tokens.check", tokens.check, raw_token, "/mcp")
    print(f"virtual key: {new - old:+.2f} µs per /mcp request")


if __name__ == "__main__":
    asyncio.run(main())
