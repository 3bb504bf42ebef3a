"""Single sign-on against the database: the OpenID client (Authlib) and the console
user an identity signs in as (``gateway.access.sso`` says what the claims mean)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from authlib.integrations.django_client import OAuth
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from gateway.access import roles, usernames
from gateway.access.sso import SsoConfig, SsoIdentity, SsoRefused
from gateway.models import Membership, SsoLink, SsoRemoval, Team

logger = logging.getLogger("gateway.sso")
HTTP_TIMEOUT = 10.0  # seconds for each call to the identity provider

__all__ = ["oidc_client", "provision", "apply_role", "verified_claims"]


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


def verified_claims(client: Any, request: HttpRequest) -> dict[str, Any]:
    """Finish the authorization-code flow and return the claims this gateway may trust:
    the ID token's, verified by Authlib (signature, issuer, audience, expiry, nonce), or
    else what the issuer's userinfo endpoint answers to the access token. A ``userinfo``
    object in the token response's own body is never read: Authlib keeps one there when
    no ID token came, and anyone answering for the token endpoint could write it.

    Raises what ``authorize_access_token`` raises; ``SsoRefused`` when neither source
    gave claims."""
    state = request.GET.get("state") or request.POST.get("state")
    started = client.framework.get_state_data(request.session, state) or {}
    token = client.authorize_access_token(request)
    if "id_token" in token:
        if "nonce" not in started:  # Authlib verifies an ID token only with its nonce
            raise SsoRefused("the identity provider's ID token could not be verified")
        claims = token.get("userinfo")  # set by Authlib from the verified ID token
    else:
        if not token.get("access_token"):
            raise SsoRefused("the identity provider sent neither an ID token nor an access token")
        if not client.load_server_metadata().get("userinfo_endpoint"):
            raise SsoRefused("the identity provider sent no ID token and has no userinfo endpoint")
        claims = client.userinfo(token=token)
    if not claims:
        raise SsoRefused("the identity provider sent no claims for this account")
    return dict(claims)


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
    (``gateway.access.roles``), membership of each mapped team (created when missing),
    and no longer of a mapped team its claims left (teams given by hand stay)."""

    user.is_staff = user.is_superuser = role == roles.OWNER
    user.save()
    roles.set_role(user, role)
    in_team = role if role in (roles.EDITOR, roles.MEMBER, roles.VIEWER) else roles.EDITOR
    for name in teams:
        team, _ = Team.objects.get_or_create(name=name)
        roles.assign_membership(user, team, in_team)
    Membership.objects.filter(user=user, team__name__in=set(mapped) - set(teams)).delete()


def _nobody(username: str, user_id: int | None) -> AbstractContextManager[None]:
    return nullcontext()


def provision(
    identity: SsoIdentity,
    mapped: Collection[str] = (),
    provisioned: Callable[[AbstractBaseUser, bool], None] | None = None,
    acting: Callable[[str, int | None], AbstractContextManager[None]] = _nobody,
) -> AbstractBaseUser:
    """The user ``identity`` signs in as: found by its link to the provider's
    ``(issuer, sub)``, created on the first sign-in (under a free username: a provider
    account never becomes a local one that has the same name). A new username that
    looks like an existing user's (``usernames.look_alike``) is refused, nothing
    created. ``provisioned(user, created)`` runs inside the transaction (the console
    writes its audit event there). What provisioning writes runs inside
    ``acting(username, user id)`` of the account itself (its id None while it is being
    created), never of the username the claims asked for: the account may be another
    (``alice-2``; a link made when the provider called them something else). An identity
    whose user was removed (``SsoRemoval``) is refused, nothing created, until an owner
    lets it in again (``gateway.features.people.save.readmit_sso``): removing a user is not undone
    by their next sign-in."""
    with transaction.atomic():
        link = (
            SsoLink.objects.select_related("user")
            .select_for_update()
            .filter(issuer=identity.issuer, subject=identity.subject)
            .first()
        )
        created = link is None
        if (
            link is None
            and SsoRemoval.objects.filter(issuer=identity.issuer, subject=identity.subject).exists()
        ):
            logger.warning(
                "sso: %s was removed from this gateway: sign-in refused", identity.subject
            )
            raise SsoRefused(
                "this account was removed from this gateway: ask an owner to let it sign in again"
            )
        if link is None:
            taken = get_user_model().objects.values_list("username", flat=True)
            imitated = usernames.look_alike(identity.username, taken)
            if imitated is not None:
                logger.warning("sso: %r looks like the user %r", identity.username, imitated)
                raise SsoRefused(
                    f"the username {identity.username!r} looks like an existing account's: "
                    "ask an owner to set a different username at the provider"
                )
            username = _free_username(identity.username)
            with acting(username, None):
                user = get_user_model().objects.create(
                    username=username, email=identity.email, first_name=identity.name[:150]
                )
            with acting(user.get_username(), user.pk):
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
        with acting(user.get_username(), user.pk):
            user.save()
            apply_role(user, identity.role, identity.teams, mapped)
            link.last_sign_in = timezone.now()
            link.save(update_fields=["last_sign_in"])
            if provisioned is not None:
                provisioned(user, created)
    return user
