"""Authorization rules, one module per resource family; importing this package registers
them all with ``gateway.policy.authorization``. A new family adds its module here."""

from gateway.policy.rules import (  # noqa: F401
    console,
    console_identity,
    conversations,
    files,
    keys,
    mcp,
    operator,
    prompts,
    routes,
    users,
)
