"""The gateway as the OAuth authorization server of its own ``/mcp`` (issue #41): MCP
clients (Claude Code, the MCP Inspector, IDEs) sign a person in through the browser
instead of being given a virtual key. Not the other direction (the gateway as an OAuth
client of upstream MCP servers).

- ``resources``: the issuer, the RFC 9728 and RFC 8414 metadata, the ``resource`` check
  (RFC 8707: a token is only for this gateway's ``/mcp`` or one ``/mcp/<server>``).
- ``server``: Authlib's authorization server: code grant with PKCE (S256, required),
  refresh with rotation, dynamic registration of public clients, revocation; replays
  revoke what they led to.
- ``exchange``: RFC 8693 token exchange of an A2A agent's token (``access.delegation``)
  for one reaching fewer surfaces, as the same caller, no longer.
- ``identity``: who a token acts as: the user, under one team, through a managed
  ``mcp-oauth`` key; what it may use is the union of the user's own keys' MCP grants
  in that team (``rules.user_grant``).
- ``tokens``: the check on ``/mcp`` (in memory after a token's first use; revocation is
  a registry change). ``views``/``urls``: the machine endpoints; ``consent``: the
  sign-in page a person approves on (a console page).

Errors: RFC 6749 JSON on the machine endpoints; on ``/mcp`` a 401 with
``WWW-Authenticate: Bearer resource_metadata=...`` naming what was wrong (never the
token). Nothing is stored by a refused request."""
