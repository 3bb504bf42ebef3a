"""The A2A feature's tables (``gateway.features.a2a``): the remote agents the gateway
serves (a registry table: a change rebuilds the snapshot, ``gateway.access.signals``) and the
tasks their callers started, each bound to the key that started it so that another key
or team never reads, cancels or follows it, on any worker or instance."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from gateway.base.secrets.declared import mask_url_secrets
from gateway.models import ConfigRow, NamedRow
from gateway.models.sealed import BearerSecret, SealedUrlField

AGENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"


def _usd(**more: Any) -> models.DecimalField:
    """An amount of USD, never negative (a price, a budget)."""
    return models.DecimalField(
        max_digits=12, decimal_places=6, validators=[MinValueValidator(0)], **more
    )


class A2aAgent(NamedRow, BearerSecret, ConfigRow):
    """A remote A2A agent served at ``/a2a/<name>``. ``url`` is its agent card's URL or
    its base URL (the card is then ``/.well-known/agent-card.json`` under it); the card
    is fetched when the agent is saved or refreshed (``card``: as the agent published
    it) and rewritten to point at the gateway when served. ``auth``: how the gateway
    authenticates to the agent. ``price_usd``: charged per call to the caller's budget,
    beside what the agent reports in its answer's ``metadata.cost_usd``."""

    class Auth(models.TextChoices):
        NONE = "", "none"
        BEARER = "bearer", "bearer token (the operator's secret)"
        OAUTH = "oauth", "OAuth, per user (each person connects)"

    name: str = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(AGENT_NAME, "letters, digits, - and _ (63 at most)")],
    )
    description = models.CharField(max_length=300, blank=True)
    url: str = SealedUrlField(help_text="the agent card's URL or the agent's base URL")
    card = models.JSONField(default=dict, blank=True)  # as published (no secret in a card)
    card_fetched_at = models.DateTimeField(null=True, blank=True)
    auth = models.CharField(max_length=10, choices=Auth.choices, default="", blank=True)
    bearer_ref: str = models.CharField(max_length=200, blank=True)
    bearer_ciphertext = models.TextField(blank=True)
    # ``auth`` "oauth" (``gateway.features.mcp.oauth``, shared with MCP servers): each
    # caller's own token, from the account they connected on the console. The
    # authorization server is ``oauth_issuer`` (blank: discovered from the agent's 401,
    # RFC 9728); the client is a pre-registered one (id, and its secret as an operator's
    # ``os.environ/NAME``) or, with no id, made by dynamic client registration.
    oauth_issuer: str = SealedUrlField(blank=True)
    oauth_client_id = models.CharField(max_length=200, blank=True)
    oauth_client_secret_ref = models.CharField(max_length=200, blank=True)
    oauth_scopes = models.CharField(max_length=300, blank=True)
    price_usd = _usd(default=0)
    # Whether the agent is trusted to act as its callers: each message it is sent carries
    # a token acting as the caller's key in that run (gateway/access/delegation.py)
    act_as_caller = models.BooleanField(default=False)
    # The most one run of the agent may spend through the gateway (the call's price and
    # reported cost, and every model and MCP call its agent makes with the token it was
    # carried); None: no budget per run.
    run_budget_usd = _usd(null=True, blank=True)
    # The most one A2A session (a context id: the runs a caller's key makes in it, and
    # every call those runs make down the chain) may spend; None: no budget per session.
    session_budget_usd = _usd(null=True, blank=True)
    timeout = models.FloatField(default=300.0, validators=[MinValueValidator(0.1)])
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    @property
    def url_display(self) -> str:
        return str(mask_url_secrets(self.url)) if self.url else ""

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: tuple[str, ...]
    ) -> ValidationError:
        if tuple(unique_check) == ("name",):
            return ValidationError(
                "An agent named %(name)s already exists.",
                code="unique",
                params={"name": self.name},
            )
        return super().unique_error_message(model_class, unique_check)


class A2aTask(models.Model):
    """A task an agent answered with, bound to the key (and its team) that started it:
    ``tasks/get``, ``tasks/cancel``, a subscription or a push config of it by any other
    key is answered as a task that does not exist. Kept until the journal's retention
    prunes it with the agent's rows (``hooks.pruners``)."""

    agent = models.ForeignKey(A2aAgent, on_delete=models.CASCADE, related_name="tasks")
    task_id: str = models.CharField(max_length=200)
    context_id: str = models.CharField(max_length=200, blank=True)
    key_id = models.IntegerField(null=True)  # None: the master key
    team_id = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "task_id"], name="a2a_task_once_per_agent")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.task_id}"


class A2aContext(models.Model):
    """An agent's own context id (``context_id``) mapped back to the session the caller
    is in (``session``: the context it sent, or the one the gateway gave its message),
    for an agent that answered in a context other than the one it was sent: a later
    message naming the agent's context is in the caller's session (its runs, its budget
    per session, its spend by session). Bound to the key whose message the agent first
    answered so, like a task; pruned with the tasks by the journal's retention."""

    agent = models.ForeignKey(A2aAgent, on_delete=models.CASCADE, related_name="contexts")
    context_id: str = models.CharField(max_length=200)
    session: str = models.CharField(max_length=200)
    key_id = models.IntegerField(null=True)  # None: the master key
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "context_id"], name="a2a_context_once_per_agent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.context_id}->{self.session}"
