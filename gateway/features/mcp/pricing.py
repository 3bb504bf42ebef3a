"""A registered MCP server's price per call (``price_usd``), held and charged the same
way wherever its tools are called: on ``/mcp`` (``calls``) and by the hosted tool loop
inside a model request (``hosted.loop``). Before the call, ``hold`` admits the key as
for a model call to the route ``mcp:<server>``: its rpm, and with a price its budget,
its team's, its owner's, its run's and its tags' holding that price (a refusal is the
admission's own ``RateLimited``, ``budget_exceeded`` for a spent budget); when the call
ends, ``Reservation.settle(0, charged)`` charges the price if the server answered, 0
else. Light on purpose: the hosted loop imports it on every request with MCP tools,
without the MCP SDK."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from gateway.access import registry
from gateway.base.entries import KeyEntry, TagEntry
from gateway.limits import limits


def price_of(server: str) -> Decimal:
    """The registered server's price per call (0 for one the registry does not hold)."""
    entry = registry.current().mcp_servers.get(server)
    return entry.price_usd if entry is not None else Decimal(0)


async def hold(
    key: KeyEntry,
    server: str,
    price: Decimal,
    tagged: tuple[TagEntry, ...],
    end_user: str = "",
) -> limits.Reservation:
    """Admit one call of ``key`` to ``server`` holding ``price`` (``tagged``: the call's
    tags that have limits; ``end_user``: the model request's end user, whose budget
    under ``max_budget_per_user`` holds it too); its model route list does not apply to
    MCP servers (the key's MCP grant decides those). Raises what ``limits.admit``
    raises."""
    return await limits.admit(
        dataclasses.replace(key, routes=None),
        f"mcp:{server}",
        0,
        hold_usd=price if price > 0 else None,
        end_user=end_user,
        tags=tagged,
    )
