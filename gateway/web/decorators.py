"""Every console page and action asks the role policy (gateway/access/roles.py) whether
the signed-in user may open it; the rules are there, not here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from gateway.access import authorization, field_rules, roles


def forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    """The console's clear 403 page."""
    actor = roles.actor_for_user(request.user)
    return render(
        request,
        "console/forbidden.html",
        {"role": actor.role, "reason": reason},
        status=403,
    )


log = logging.getLogger(__name__)


def raced(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The console's 409 page: another user (or script) changed or deleted what this
    request needed at the same time (a team removed while a member is added to it)."""
    log.warning("console: %s %s met a concurrent change: %s", request.method, request.path, exc)
    return render(request, "console/raced.html", {"again": _page_again(request)}, status=409)


def _page_again(request: HttpRequest) -> str:
    """The page to open again: a read's own; a form's, the page it was sent from (many
    actions answer only POST), when that is this console's, else the action's path."""
    if request.method in ("GET", "HEAD"):
        return str(request.get_full_path())
    referer = str(request.headers.get("Referer", ""))
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return str(request.path)


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
        try:
            return view(request, *args, **kwargs)
        except (IntegrityError, ObjectDoesNotExist) as exc:  # Http404 is neither: a 404 stays
            return raced(request, exc)

    return wrapper


def actor_of(request: HttpRequest) -> roles.Actor:
    """The policy actor of a console request (set by ``staff_required``)."""
    actor = getattr(request, "actor", None)
    return actor if actor is not None else roles.actor_for_user(request.user)


def rule_refused(request: HttpRequest, rule: str, target: Any) -> HttpResponse | None:
    """The 403 page with the rule's reason when ``rule`` (``gateway.access.rules``) does
    not let the console user act on ``target``, else None."""
    decision = authorization.decide(actor_of(request), rule, target)
    return None if decision else forbidden(request, decision.reason)


T = TypeVar("T")


def acting_on(
    load: Callable[[int], T], rule: str
) -> Callable[
    [Callable[[HttpRequest, T], HttpResponse]], Callable[[HttpRequest, int], HttpResponse]
]:
    """A view that acts on one object (``pk`` in its URL): ``load(pk)`` (its 404), then
    ``rule`` asked of it (the 403 page, ``rule_refused``), then the view called with it."""

    def decorate(view: Callable[[HttpRequest, T], HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def acting(request: HttpRequest, pk: int) -> HttpResponse:
            target = load(pk)
            if refused := rule_refused(request, rule, target):
                return refused
            return view(request, target)

        return acting

    return decorate


def form_values(form: forms.BaseForm) -> dict[str, Any]:
    """What a valid form writes, by the names the field table gives them: its declared
    fields (a field a form adds for one instance, such as a provider kind's settings, is
    saved in a declared one, and asked as that one)."""
    return {name: form.cleaned_data[name] for name in form.base_fields if name in form.cleaned_data}


def fields_refused(
    request: HttpRequest,
    resource: str,
    sent: Mapping[str, Any],
    instance: Any = None,
    stored: Mapping[str, Any] | None = None,
) -> HttpResponse | None:
    """The 403 page naming the field and who may write it when the field table
    (``gateway.access.field_rules``) refuses what a console form writes to ``resource``,
    else None. Every form that writes a resource asks it, as ``/api`` does: ``instance``
    is the row it changes (None: a new one), ``stored`` its values where they are not
    the row's attributes."""
    if stored is None and instance is not None:
        stored = field_rules.stored_values(instance, sent)
    reason = field_rules.refusal(actor_of(request), resource, sent, stored)
    return forbidden(request, reason) if reason else None
