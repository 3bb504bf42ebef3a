"""Single sign-on pages: ``/login/sso/`` sends the browser to the identity provider,
``/login/sso/callback/`` takes its answer. Authlib checks the answer (``state``, the
code exchanged with PKCE, the ID token's signature, issuer, audience, expiry and
``nonce``); a failure of any kind is a readable error on the login page (the password
form stays there for the break-glass accounts), logged, never a 500.

Authlib, joserfc and requests are imported by the two views, not by this module: the
URL conf imports it in every serving process, and most deployments never sign in
through a provider (the three cost about 15 MB of each worker's memory)."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from gateway.access import sso
from gateway.access.login_throttle import client_address
from gateway.base.env import env_str
from gateway.features.people.views.auth import SignInForm
from gateway.telemetry import audit

logger = logging.getLogger("gateway.sso")
NEXT_KEY = "sso_next"
BACKEND = "gateway.access.login_throttle.ThrottledModelBackend"


def _config() -> sso.SsoConfig:
    cfg, _ = sso.config_or_error()
    if cfg is None:
        raise Http404("single sign-on is not configured")
    return cfg


def _host(cfg: sso.SsoConfig) -> str:
    return cfg.issuer.split("//", 1)[-1].split("/", 1)[0]


def refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    """The login page with ``message`` above the password form; audited and logged."""
    logger.warning("sso: sign-in refused from %s: %s", client_address(request), message)
    audit.record(
        "login_failed",
        object_type="user",
        detail=f"single sign-on: {message}",
        actor=audit.Actor(
            "anonymous",
            "",
            "",
            "sso",
            audit.actor_of(request).ip,
            request.headers.get("user-agent", "")[:300],
        ),
    )
    context = {
        "form": SignInForm(request),
        "sso_error": message,
        "next": "",
        "sso": sso.config_or_error()[0],
        "sso_only": sso.sso_only(),
    }
    return render(request, "people/login.html", context, status=status)


def callback_url(request: HttpRequest) -> str:
    """Where the provider sends the browser back (the redirect URI to register there):
    ``SWITCHYARD_OIDC_REDIRECT_URI`` when a proxy in front changes the address, else this
    request's own origin."""
    return env_str("SWITCHYARD_OIDC_REDIRECT_URI").strip() or request.build_absolute_uri(
        reverse("console:sso-callback")
    )


def sso_start(request: HttpRequest) -> HttpResponse:
    import requests
    from authlib.common.errors import AuthlibBaseError

    from gateway.features.people.sso_users import oidc_client

    cfg = _config()
    wanted = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure())
    request.session[NEXT_KEY] = wanted if safe else ""
    try:
        return oidc_client(cfg).authorize_redirect(request, callback_url(request))
    except (requests.RequestException, ValueError, AuthlibBaseError) as exc:
        return refused(
            request,
            f"The identity provider at {_host(cfg)} could not be reached "
            f"({type(exc).__name__}). Try again, or sign in with a password if you have one.",
            502,
        )


def sso_callback(request: HttpRequest) -> HttpResponse:
    import requests
    from authlib.common.errors import AuthlibBaseError
    from authlib.integrations.base_client.errors import MismatchingStateError
    from joserfc.errors import JoseError

    from gateway.features.people.sso_users import oidc_client, provision, verified_claims

    cfg = _config()
    try:
        claims = verified_claims(oidc_client(cfg), request)
    except sso.SsoRefused as exc:
        return refused(request, f"Not signed in: {exc}.", 400)
    except MismatchingStateError:
        return refused(
            request,
            "This sign-in could not be verified (its state did not match the one this "
            "browser started with). Start again from the sign-in page.",
            400,
        )
    except JoseError as exc:
        return refused(
            request, f"The identity provider's ID token did not verify ({exc.error}).", 400
        )
    except AuthlibBaseError as exc:
        detail = exc.description or exc.error or type(exc).__name__
        return refused(request, f"The identity provider refused the sign-in: {detail}.", 400)
    except (requests.RequestException, ValueError) as exc:
        return refused(
            request,
            f"The identity provider at {_host(cfg)} could not be reached ({type(exc).__name__}).",
            502,
        )
    try:
        identity = sso.identity_from_claims(claims, cfg)
        origin = audit.actor_of(request)

        def account(username: str, user_id: int | None) -> AbstractContextManager[None]:
            """Rows name the account signing in, never the username its claims asked for
            (the account may be ``alice-2``, or linked under another name)."""
            who = str(user_id) if user_id is not None else ""
            person = audit.Actor("user", username, who, "sso", origin.ip, origin.user_agent)
            return audit.acting(person)

        with audit.via("sso"):
            user = provision(
                identity,
                set(cfg.team_map.values()),
                lambda u, new: _provisioned(identity, u, new),
                acting=account,
            )
    except sso.SsoRefused as exc:
        return refused(request, f"Signed in at {_host(cfg)}, but {exc}.", 403)
    login(request, user, backend=BACKEND)
    logger.info("sso: %s signed in from %s", user, client_address(request))
    target = request.session.pop(NEXT_KEY, "") or resolve_url("console:dashboard")
    return HttpResponseRedirect(target)


def _provisioned(identity: sso.SsoIdentity, user: Any, created: bool) -> None:
    """One event per single sign-on: the user created or found, and the role and teams
    the provider's claims gave (the rows those changes write name the same person)."""
    audit.record(
        "sso_provision",
        object_type="user",
        object_id=user.pk,
        object_name=user.get_username(),
        changes={"created": created, "role": identity.role, "teams": list(identity.teams)},
        detail=f"role and teams from the claims of {identity.issuer} (sub {identity.subject})",
        actor=audit.Actor(
            "user", user.get_username(), str(user.pk), "sso", *_origin_of(audit.current_actor())
        ),
    )


def _origin_of(actor: audit.Actor) -> tuple[str | None, str]:
    return actor.ip, actor.user_agent
