"""What the OAuth machinery acts for: a registered MCP server (``McpServerEntry``) or
another upstream that takes each person's own token (``OAuthTarget``: an A2A agent,
handed over by its feature through ``hooks.upstream_oauth``). Every row of ``store``
names one of the two (``where``), and the tokens held in memory are keyed by ``cache_name``
(an agent and a server may share a name)."""

from __future__ import annotations

from gateway.base import hooks
from gateway.base.entries import McpServerEntry, OAuthTarget
from gateway.base.secrets.secret_refs import resolve_secret

Target = McpServerEntry | OAuthTarget
Where = dict[str, int]

FIELD = {"agent": "agent_id"}  # an OAuthTarget's kind -> its rows' column


def where(entry: Target) -> Where:
    """The filter naming ``entry``'s rows."""
    if isinstance(entry, OAuthTarget):
        return {FIELD[entry.kind]: entry.id}
    return {"server_id": entry.id}


def label(entry: Target) -> str:
    """How a message names ``entry`` ("MCP server files", "agent helper")."""
    return entry.label if isinstance(entry, OAuthTarget) else f"MCP server {entry.name}"


def cache_name(entry: Target) -> str:
    return f"{entry.kind}:{entry.name}" if isinstance(entry, OAuthTarget) else entry.name


def home_url(entry: Target) -> str:
    """The upstream's URL, secrets resolved: the discovery probe's and the resource's."""
    return entry.url if isinstance(entry, OAuthTarget) else resolve_secret(entry.url)


def object_type(entry: Target) -> str:
    """What the audit log names ``entry`` as."""
    return "a2a_agent" if isinstance(entry, OAuthTarget) else "mcp_server"


def issuer(entry: Target) -> str:
    """The configured authorization server ('' : discovered)."""
    return entry.oauth_issuer if isinstance(entry, OAuthTarget) else ""


def other(kind: str, target_id: int) -> OAuthTarget | None:
    """The ``OAuthTarget`` of ``kind`` with ``target_id`` (its feature's, by hook)."""
    find = hooks.oauth_targets.get(kind)
    return find(target_id) if find is not None else None
