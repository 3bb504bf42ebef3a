"""Closing MCP at shutdown (registered into ``hooks.closers`` from GatewayConfig.ready):
the sessions of ``/mcp`` first, then the upstream connections (stdio servers stopped),
each only when this process ever used it (never imported otherwise)."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


async def aclose_used() -> None:
    """Close the MCP sessions and upstream connections this process opened."""
    for name in ("gateway.features.mcp.endpoint", "gateway.features.mcp.pool"):
        module = sys.modules.get(name)
        if module is not None:
            try:
                await module.aclose()
            except Exception:
                log.exception("closing %s failed", name)
