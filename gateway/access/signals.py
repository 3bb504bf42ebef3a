"""Registry change notifications: every save or delete of a registry row bumps the
registry version in the same transaction; after commit this process rebuilds its
snapshot and other instances are told through the channel layer (see registry)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, ProtectedError
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from gateway.access import registry, registry_fingerprint, registry_settle
from gateway.access.keys import keys_limited_to
from gateway.models import (
    A2aAgent,
    ApiKey,
    Deployment,
    Guardrail,
    McpServer,
    Profile,
    Prompt,
    PromptLabel,
    PromptVersion,
    Provider,
    RegistryState,
    Route,
    SsoLink,
    SsoRemoval,
    TagBudget,
    Team,
)

# Profile: a user's own limits are in the snapshot (UserEntry); prompts: the prompt
# registry's part of it (gateway.features.prompts); TagBudget: the tags' limits (TagEntry);
# A2aAgent: the A2A feature's part (gateway.features.a2a.snapshot)
REGISTRY_MODELS = (
    Provider, Route, Deployment, ApiKey, Team, McpServer, Profile, Guardrail,
    Prompt, PromptVersion, PromptLabel, TagBudget, A2aAgent,
)  # fmt: skip
# the same tables are fingerprinted for changes made without these signals (PostgreSQL)
registry_fingerprint.track(REGISTRY_MODELS)


def bump_version(using: str) -> None:
    updated = RegistryState.objects.using(using).filter(pk=1).update(version=F("version") + 1)
    if not updated:
        RegistryState.objects.using(using).get_or_create(pk=1, defaults={"version": 1})


class _AfterCommit:
    """Rebuild this process's snapshot and tell the other instances (once per commit)."""

    def __init__(self, using: str) -> None:
        self.using = using

    def __call__(self) -> None:
        built = registry.rebuild()
        if settings.REDIS_URL:
            registry.announce()
        registry_settle.settle(built.version)  # the others rebuilt too, or a second passed


def _already_pending(using: str) -> bool:
    """Whether a rebuild is queued for this transaction in a scope that commits or
    rolls back together with the current one (an enclosing or the same savepoint).
    Asking the connection's own queue means a rolled-back transaction never leaves a
    stale "pending" mark behind."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return False
    current = set(connection.savepoint_ids)
    return any(
        isinstance(func, _AfterCommit) and func.using == using and sids <= current
        for sids, func, *_ in connection.run_on_commit
    )


def registry_changed(using: str = "default") -> None:
    bump_version(using)
    if not _already_pending(using):
        transaction.on_commit(_AfterCommit(using), using=using)


@receiver(post_save)  # type: ignore[untyped-decorator]
@receiver(post_delete)  # type: ignore[untyped-decorator]
def _on_registry_row(sender: type[Any], using: str | None = None, **kwargs: Any) -> None:
    if sender in REGISTRY_MODELS and not kwargs.get("raw"):
        registry_changed(using or router.db_for_write(sender))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)  # type: ignore[untyped-decorator]
def _on_user_saved(
    sender: type[Any], created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """A user (de)activated: their keys start or stop working (the snapshot marks a
    deactivated user's keys revoked). Sign-ins save ``last_login`` alone: no rebuild."""
    if created or kwargs.get("raw"):
        return
    if update_fields is None or "is_active" in update_fields:
        registry_changed(kwargs.get("using") or "default")


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)  # type: ignore[untyped-decorator]
def _sso_identity_remembered(sender: type[Any], instance: Any, **kw: Any) -> None:
    """A user removed, on any path: each single sign-on identity linked to them is
    remembered (``SsoRemoval``), so its next sign-in is refused instead of making the
    account again (``gateway.features.people.sso_users.provision``)."""
    for link in SsoLink.objects.filter(user_id=instance.pk):
        SsoRemoval.objects.update_or_create(
            issuer=link.issuer,
            subject=link.subject,
            defaults={"username": instance.get_username(), "removed_at": timezone.now()},
        )


@receiver(pre_delete, sender=Route)  # type: ignore[untyped-decorator]
def _keep_keys_limited(sender: type[Any], instance: Route, **kwargs: Any) -> None:
    """The last net under every path that deletes routes: a key whose only allowed
    route goes would be left with none, which means every route."""
    names = keys_limited_to(instance)
    if names:
        raise ProtectedError(
            f"{instance.name} is the only route API key(s) {', '.join(names)} may use; "
            "deleting it would open every route to them: change or revoke them first",
            set(ApiKey.objects.filter(name__in=names)),
        )


@receiver(m2m_changed, sender=ApiKey.routes.through)  # type: ignore[untyped-decorator]
@receiver(m2m_changed, sender=Route.teams.through)  # type: ignore[untyped-decorator]
def _on_key_routes(sender: type[Any], action: str, using: str | None = None, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        registry_changed(using or "default")
