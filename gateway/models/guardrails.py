"""The guardrails' table, in the store (``gateway.models``): each guardrail a team
defined, read into the snapshot (``gateway.policy.registry``) and run by the feature
(``gateway.guardrails``). Which requests a guardrail sees is said here (``default_on``)
and on keys, teams and routes (their ``guardrails`` lists), or asked for per request."""

from __future__ import annotations

from django.db import models

# When a guardrail runs (LiteLLM's ``mode`` spellings).
MODES = ("pre_call", "during_call", "post_call", "pre_mcp_call")
FAIL_CLOSED, FAIL_OPEN = "fail_closed", "fail_open"


class Guardrail(models.Model):
    """A named check on what a call carries: its ``kind`` (content filter, PII,
    secrets, an external service, moderation, an LLM judge) with the kind's ``params``,
    the ``modes`` it runs in, and what a failure of the check itself does
    (``unreachable_fallback``: refuse the request, or let it pass, journaled and
    counted). ``monitor``: record what it would have done, change nothing."""

    name: str = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=40)
    modes = models.JSONField(default=list, blank=True)
    default_on = models.BooleanField(
        default=False, help_text="runs on every request, without being attached"
    )
    monitor = models.BooleanField(
        default=False, help_text="monitor only: journal the verdict, never block or rewrite"
    )
    unreachable_fallback = models.CharField(
        max_length=12,
        choices=[(FAIL_CLOSED, "Refuse the request"), (FAIL_OPEN, "Let it pass (counted)")],
        default=FAIL_CLOSED,
    )
    timeout = models.FloatField(default=5.0, help_text="seconds the check may take")
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True)
    # Saved by a config import or ``apply`` (gateway.ops.litellm): the file manages it.
    from_config = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
