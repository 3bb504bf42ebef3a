"""Users as a resource: who may set a user's own limits (rpm, tpm, budget counted across
every key they own, gateway/policy/limits.py)."""

from __future__ import annotations

from typing import Any

from gateway.policy import roles
from gateway.policy.authorization import ALLOW, Decision, deny, rule


@rule("user.limit")
def user_limit(actor: roles.Actor, user: Any) -> Decision:
    """Set a user's own limits: owners anyone's; admins those of users below owner
    (an admin does not reach over an owner)."""
    if actor.role == roles.OWNER:
        return ALLOW
    if actor.role != roles.ADMIN:
        return deny(f"the role {actor.role or 'none'} may not set users' limits")
    if roles.role_of_any(user) == roles.OWNER:
        return deny("only owners may set an owner's limits")
    return ALLOW
