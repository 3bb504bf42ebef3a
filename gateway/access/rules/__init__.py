"""Authorization rules, one module per resource family; importing this package registers
them all with ``gateway.access.authorization``. A new family adds its module here; a
unit's rules are its own ``rules.py``, imported by the unit's ``register``
(``gateway.web.units``: the MCP servers' ``mcp.*``, people's ``user.*``)."""

from gateway.access.rules import (  # noqa: F401
    console,
    console_identity,
    conversations,
    files,
    keys,
    operator,
    routes,
    scores,
)
