"""Who may do what: the one authorization decision (``authorization`` and the rules of
``rules/``), roles, field rules, keys and console keys, sign-in (usernames, SSO, SSO
users, login attempts and throttling), tag and alert-threshold values, and the registry
snapshot every layer above reads (``registry``: keys, teams, users, routes, deployments
in memory, no query per request)."""
