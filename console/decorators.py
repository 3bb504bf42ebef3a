"""Every console page and action asks the role policy (gateway/policy/roles.py) whether
the signed-in user may open it; the rules are there, not here."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django_htmx.http import HttpResponseClientRedirect

from gateway.policy import authorization, roles


def forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    """The console's clear 403 page."""
    actor = roles.actor_for_user(request.user)
    return render(
        request,
        "console/forbidden.html",
        {"role": actor.role, "reason": reason},
        status=403,
    )


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed out: to the login page (htmx requests are told to navigate there, so a
    poll never swaps a login form into a fragment). Signed in: the page's ability for
    this method (``roles.PAGES``) or a 403 page; ``request.actor`` is set for the view."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            if getattr(request, "htmx", False):
                login = resolve_url(settings.LOGIN_URL)
                return HttpResponseClientRedirect(f"{login}?next={request.get_full_path()}")
            return redirect_to_login(request.get_full_path())
        actor = roles.actor_for_user(user)
        match = getattr(request, "resolver_match", None)
        name = match.view_name if match is not None else ""
        decision = authorization.decide(actor, "page.open", (name, request.method or "GET"))
        if actor.role is None or not decision:
            return forbidden(request)
        request.actor = actor
        return view(request, *args, **kwargs)

    return wrapper


def actor_of(request: HttpRequest) -> roles.Actor:
    """The policy actor of a console request (set by ``staff_required``)."""
    actor = getattr(request, "actor", None)
    return actor if actor is not None else roles.actor_for_user(request.user)
