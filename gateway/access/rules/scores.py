"""Who scores a logged request (``/api/logs/{id}/scores``, the console's scores)."""

from __future__ import annotations

from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry


@rule("score.write")
def score_write(actor: Any, log: Any) -> Decision:
    """Score a logged request: a virtual key its own requests only (an application's
    users' feedback); the master key any; a console user or management key a request
    their role lets them see (the caller narrows to ``roles.visible_logs`` first)."""
    if isinstance(actor, KeyEntry):
        if actor.is_master or (actor.id is not None and actor.id == getattr(log, "key_id", None)):
            return ALLOW
        return deny("a key may score only its own requests")
    if isinstance(actor, roles.Actor) and actor.can("logs.view"):
        return ALLOW
    return deny("your role may not score requests")
