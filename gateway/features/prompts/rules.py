"""The prompt registry's rules: who changes a prompt and who uses one by reference, and
who may write each of its fields (``gateway.access.field_rules``). Imported by the
unit's ``register`` (``apps.py``)."""

from __future__ import annotations

from typing import Any

from gateway.access import field_rules, roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import KeyEntry

# a member's or editor's own prompts (prompt.change); labels move versions in use
field_rules.declare(
    "prompts",
    field_rules.same(
        field_rules.MEMBER,
        *("name", "description", "messages", "model", "params", "tools", "note"),
        *("labels", "version"),
        rule="prompt.change",
    ),
)


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
