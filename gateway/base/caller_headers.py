"""The headers a caller may never set on a connection the gateway makes for it, declared
once: wherever a caller's headers are sent on (the hosted MCP tool's ``headers``, a
passed-through body's ``relayed`` headers) they are checked here.

Two kinds are refused. The connection's own: hop-by-hop, framing and the host (they
would re-aim or desync the gateway's connection). And the proxy's: ``Forwarded``,
``X-Forwarded-*``, ``X-Real-IP`` and their kin, ``X-Original-URL``, ``X-Rewrite-URL``:
an upstream behind a proxy reads them as what the gateway vouches for (the client's
address, the original host or path), so a caller setting them would speak with the
gateway's voice (an allow list by address, a rewrite to an internal path)."""

from __future__ import annotations

CONNECTION = frozenset(
    {
        "host",
        "transfer-encoding",
        "content-length",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
    }
)

PROXY_IDENTITY = frozenset(
    {
        "forwarded",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-cluster-client-ip",
        "x-original-url",
        "x-rewrite-url",
        "x-original-forwarded-for",
        "via",
    }
)
PROXY_PREFIXES = ("x-forwarded-",)  # -for, -host, -proto, -port, -prefix, -server ...


def refused(name: str) -> str | None:
    """Why a caller may not set the header ``name`` (any case), or None."""
    lowered = name.strip().lower()
    if lowered in CONNECTION:
        return "the gateway sets the connection's own framing and host headers"
    if lowered in PROXY_IDENTITY or lowered.startswith(PROXY_PREFIXES):
        return "the gateway's proxy headers (the client's address, host or path) are not the caller's to set"
    return None
