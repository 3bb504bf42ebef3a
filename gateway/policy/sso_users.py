"""Single sign-on against the database: the OpenID client (Authlib) and the console
user an identity signs in as (``gateway.policy.sso`` says what the claims mean)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection

from authlib.integrations.django_client import OAuth, OAuthError
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from gateway.models import SsoLink
from gateway.policy.sso import SsoConfig, SsoIdentity, SsoRefused

logger = logging.getLogger("gateway.sso")
HTTP_TIMEOUT = 10.0  # seconds for each call to the identity provider

__all__ = ["OAuthError", "oidc_client", "provision", "apply_role"]


@functools.cache
def _registry(discovery_url: str, client_id: str, client_secret: str, scopes: str) -> OAuth:
    oauth = OAuth()
    oauth.register(
        name="switchyard",
        client_id=client_id,
        client_secret=client_secret or None,
        server_metadata_url=discovery_url,
        client_kwargs={
            "scope": scopes,
            "code_challenge_method": "S256",  # PKCE, whatever the client secret
            "default_timeout": HTTP_TIMEOUT,
        },
    )
    return oauth


def oidc_client(cfg: SsoConfig):  # type: ignore[no-untyped-def]
    """The Authlib client of ``cfg``'s provider: one per process, its discovery
    document and key set fetched on first use (the keys again when a token names a new
    one)."""
    registry = _registry(cfg.discovery_url, cfg.client_id, cfg.client_secret, cfg.scopes)
    return registry.create_client("switchyard")


def _free_username(wanted: str) -> str:
    users = get_user_model().objects
    name, n = wanted or "user", 1
    while users.filter(username=name).exists():
        n += 1
        name = f"{wanted}-{n}"
    return name


def apply_role(
    user: AbstractBaseUser, role: str, teams: tuple[str, ...], mapped: Collection[str] = ()
) -> None:
    """Give ``user`` the role and teams the provider's claims map to, at every sign-in,
    so a change at the provider reaches the gateway at the next one: its console role
    (``gateway.policy.roles``), membership of each mapped team (created when missing),
    and no longer of a mapped team its claims left (teams given by hand stay)."""
    from gateway.models import Membership, Team
    from gateway.policy import roles

    user.is_staff = user.is_superuser = role == roles.OWNER  # type: ignore[attr-defined]
    user.save()
    roles.set_role(user, role)
    in_team = role if role in (roles.EDITOR, roles.MEMBER, roles.VIEWER) else roles.EDITOR
    for name in teams:
        team, _ = Team.objects.get_or_create(name=name)
        roles.assign_membership(user, team, in_team)
    Membership.objects.filter(user=user, team__name__in=set(mapped) - set(teams)).delete()


def provision(identity: SsoIdentity, mapped: Collection[str] = ()) -> AbstractBaseUser:
    """The user ``identity`` signs in as: found by its link to the provider's
    ``(issuer, sub)``, created on the first sign-in (under a free username: a provider
    account never becomes a local one that has the same name)."""
    with transaction.atomic():
        link = (
            SsoLink.objects.select_related("user")
            .select_for_update()
            .filter(issuer=identity.issuer, subject=identity.subject)
            .first()
        )
        if link is None:
            user = get_user_model().objects.create(
                username=_free_username(identity.username),
                email=identity.email,
                first_name=identity.name[:150],
            )
            user.set_unusable_password()
            link = SsoLink.objects.create(
                user=user, issuer=identity.issuer, subject=identity.subject
            )
            logger.info("sso: first sign-in of %s creates user %s", identity.subject, user)
        else:
            user = link.user
            if identity.email:
                user.email = identity.email
        if not user.is_active:
            raise SsoRefused("this account is disabled on this gateway")
        user.save()
        apply_role(user, identity.role, identity.teams, mapped)
        link.last_sign_in = timezone.now()
        link.save(update_fields=["last_sign_in"])
    return user
