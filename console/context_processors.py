"""What every console page's template needs besides its view's context: the
navigation for the reader (``console.nav``) and the largest form body the server
takes (console.js shows a field error before a larger one is sent, instead of a 413
that htmx would drop)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from console import nav
from gateway.access import roles


def console(request: HttpRequest) -> dict[str, Any]:
    return {
        "form_body_cap": settings.SWITCHYARD_MAX_FORM_BODY_BYTES,
        "console_nav": lambda: _nav(request),  # called only by pages that draw the bar
    }


def _nav(request: HttpRequest) -> list[nav.ShownSection]:

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    actor = roles.actor_for_user(user)
    match = request.resolver_match
    return nav.for_reader(actor.can, (match.url_name or "") if match else "")
