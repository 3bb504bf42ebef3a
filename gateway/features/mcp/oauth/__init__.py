"""OAuth 2.1 to upstream MCP servers (the MCP authorization spec), for servers registered
with ``oauth`` ``per_user`` (each person connects once from the console and their calls
send their own token) or ``service`` (one client-credentials token for the server).

- ``guarded_http``: the one HTTP client of every exchange, held to the hosted MCP URLs'
  rules (no private address unless allowed, https, pinned addresses, no redirects);
- ``discovery``: protected resource metadata, then authorization server metadata;
- ``clients``: the pre-registered client or dynamic registration, and Authlib's client;
- ``flow``: connect (PKCE, state), the callback, disconnect (revocation);
- ``tokens``: the token a call sends, held in memory, refreshed before expiry;
- ``caller``: whose token (``act_as``/``principal``) and the ``httpx2.Auth`` the pool's
  connection for (server, person) sends it with;
- ``store``: the rows, every secret sealed.

Errors: ``flow.FlowError`` (the console shows it), ``errors.AuthorizationRequired`` on
the call path (``/mcp`` answers a URL elicitation naming the console page), and
``errors.ServerUnavailable`` for an authorization server that cannot be reached. No
message carries a token, a code, a state or a verifier."""
