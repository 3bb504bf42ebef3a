"""MCP servers as a resource: what a virtual key may use of a registered server (on
``/mcp``, as a hosted tool it names, and on a route that attaches the server), and who may
attach a server to a route; and who may write each field of a server (the field rules,
``gateway.access.field_rules``). Imported by the unit's ``register`` (``apps.py``): the
rules register with ``gateway.access.authorization``, the fields with the field table.

A key's grant (``KeyEntry.mcp_allowed``, already within its team's) lists ``server``
(the whole server: its tools, resources and prompts), ``server__tool`` (that one tool and
nothing else) or ``*`` (every server); empty means none; the master key has everything.
Server names never hold ``__`` (``models.MCP_SERVER_NAME``), so ``server__`` starts only
that server's tool grants."""

from __future__ import annotations

from typing import Any

from gateway.access import field_rules, roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry

SEPARATOR = "__"

# Who may write each field of an MCP server: owners and admins; a stdio server's
# command, args and env also ask ``mcp_server.stdio`` (the operator's power).
field_rules.declare(
    "mcp_servers",
    {
        **field_rules.same(
            field_rules.ADMIN,
            *("name", "description", "transport", "url", "headers", "bearer", "clear_bearer"),
            *("enabled", "connect_timeout", "call_timeout", "sampling_route", "oauth"),
            *("oauth_client_id", "oauth_client_secret", "clear_oauth_client_secret"),
            "oauth_scopes",
            "price_usd",
        ),
        **field_rules.same(field_rules.ADMIN, "command", "args", "env", rule="mcp_server.stdio"),
    },
)


def whole_server(key: KeyEntry, server: str) -> bool:
    """Whether the key's grant covers all of ``server`` (not only some of its tools)."""
    return key.is_master or "*" in key.mcp_allowed or server in key.mcp_allowed


def sees_server(key: KeyEntry, server: str) -> bool:
    """Whether the key may see the server at all (all of it or some of its tools)."""
    prefix = server + SEPARATOR
    return whole_server(key, server) or any(item.startswith(prefix) for item in key.mcp_allowed)


def tools_granted(key: KeyEntry, server: str) -> list[str] | None:
    """The tools of ``server`` the key may call: None for all, else the ones its
    ``server__tool`` entries name (empty: none)."""
    if whole_server(key, server):
        return None
    prefix = server + SEPARATOR
    return [item[len(prefix) :] for item in key.mcp_allowed if item.startswith(prefix)]


def may_call_tool(key: KeyEntry, server: str, tool: str) -> bool:
    return whole_server(key, server) or f"{server}{SEPARATOR}{tool}" in key.mcp_allowed


@rule("mcp.server.use")
def server_use(key: KeyEntry, server: str) -> Decision:
    """See a registered MCP server (list it, list the tools granted): a key granted the
    server, one of its tools, or ``*``; the master key any."""
    if sees_server(key, server):
        return ALLOW
    return deny(f"this API key may not use the MCP server {server!r}")


@rule("mcp.tool.call")
def tool_call(key: KeyEntry, resource: tuple[str, str]) -> Decision:
    """Call a tool (server, tool) of a registered MCP server, on ``/mcp``, as a hosted tool
    (approved or not) or through a route that attaches the server: a key granted the
    server, ``server__tool`` or ``*``; the master key any."""
    server, tool = resource
    if may_call_tool(key, server, tool):
        return ALLOW
    return deny(f"this API key may not call {server}{SEPARATOR}{tool}")


@rule("mcp.resource.read")
def resource_read(key: KeyEntry, server: str) -> Decision:
    """List and read a registered MCP server's resources: a key granted the whole server
    (or ``*``); a grant of some of its tools is not enough."""
    if whole_server(key, server):
        return ALLOW
    return deny(f"this API key may not read the resources of the MCP server {server!r}")


@rule("mcp.prompt.get")
def prompt_get(key: KeyEntry, server: str) -> Decision:
    """List and get a registered MCP server's prompts: a key granted the whole server (or
    ``*``); a grant of some of its tools is not enough."""
    if whole_server(key, server):
        return ALLOW
    return deny(f"this API key may not get the prompts of the MCP server {server!r}")


@rule("mcp.server.attach")
def server_attach(actor: roles.Actor, server: Any) -> Decision:
    """Attach a registered MCP server to a route (its ``mcp_servers``) or a playground
    column: the roles that manage MCP servers (owners, admins; the server's credentials
    are theirs). The keys calling the route still need their own grant."""
    if roles.may_use_mcp_servers(actor):
        return ALLOW
    return deny(f"the role {actor.role or 'none'} may not attach the MCP server {server!r}")


# --- a user signed in from an MCP client (gateway.features.mcp.oauth_server) ---------------------

OAUTH_SCOPE = "mcp-oauth"  # the scope of the managed key a user's MCP sign-ins act through


def user_grant(keys: Any, user_id: int, team_id: int | None) -> frozenset[str]:
    """What a user signed in from an MCP client may use on ``/mcp`` under ``team_id``:
    the union of the MCP grants of the live keys they own in that team (each already
    within the team's bound), never more than those keys open. Console keys and the
    sign-ins' own managed keys grant nothing here. ``keys``: the snapshot's entries."""
    import time

    now = time.time()
    out: set[str] = set()
    for entry in keys:
        if entry.user_id != user_id or entry.revoked or entry.parent_id is not None:
            continue
        if (entry.team.id if entry.team is not None else None) != team_id:
            continue
        if entry.expires_at is not None and entry.expires_at.timestamp() <= now:
            continue
        if entry.prefix in ("console", OAUTH_SCOPE):  # managed keys, not grants
            continue
        out |= entry.mcp_allowed
    return frozenset(out)


@rule("mcp.oauth.consent")
def oauth_consent(actor: roles.Actor, resource: Any) -> Decision:
    """Let an MCP client act on ``/mcp`` as oneself (the consent page): a signed-in user
    with a console role, for a team they belong to (or no team for keys without one);
    the client then sees only what ``user_grant`` gives: the user's own keys' grants."""
    team = resource
    if actor.role is None or actor.user_id is None:
        return deny("no console access")
    if team is not None and team not in actor.team_ids() and not actor.everywhere:
        return deny("you are not a member of that team")
    return ALLOW


# --- a person's own OAuth authorization to an upstream MCP server (gateway.features.mcp.oauth) ----


@rule("mcp.oauth.connect")
def oauth_connect(actor: roles.Actor, server: Any) -> Decision:
    """Connect (or disconnect) one's own OAuth authorization to a registered MCP server
    that acts for each person: anyone with a console role, for an enabled ``per_user``
    server; only their own tokens are ever touched."""
    if actor.role is None or actor.user_id is None:
        return deny("only a signed-in person connects their own account")
    if getattr(server, "oauth", "") != "per_user" or not getattr(server, "enabled", False):
        return deny(f"the MCP server {server} does not take per-person OAuth")
    return ALLOW
