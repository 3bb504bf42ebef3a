"""The prompt registry (``gateway.features.prompts``): who changes a prompt, who uses one by
reference, and who scores a logged request (``/api/logs/{id}/scores``, the console)."""

from __future__ import annotations

from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry


@rule("prompt.change")
def prompt_change(actor: Any, prompt: Any) -> Decision:
    """Create a prompt (``None``), save a version of one, move its labels, delete it:
    owners and admins any prompt; editors and members (who use the playground) a new
    one and those they created."""
    if not isinstance(actor, roles.Actor) or not actor.can("prompts.edit"):
        return deny("your role may not change prompts")
    if actor.everywhere or prompt is None:
        return ALLOW
    if actor.user_id is not None and getattr(prompt, "created_by_id", None) == actor.user_id:
        return ALLOW
    return deny("only its author, an admin or an owner may change this prompt")


@rule("prompt.use")
def prompt_use(actor: Any, name: Any) -> Decision:
    """Name a prompt in a ``/v1`` request (``prompt_id``, Responses ``prompt``): any key;
    prompts are shared by every team (a prompt holds no secret, and the route it runs on
    is still asked ``route.call``)."""
    return ALLOW if isinstance(actor, KeyEntry) else deny("prompts are used with a key")


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
