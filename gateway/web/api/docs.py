"""The API's Swagger UI page, rendered from django-ninja's own template and vendored
files (``settings.NINJA_FILES``). ninja does that itself only when it is an installed
app, and falls back to a CDN otherwise; the gateway keeps it out of ``INSTALLED_APPS``
so that a process imports it when the API is first used, not at start."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger

if TYPE_CHECKING:
    from ninja import NinjaAPI


class VendoredSwagger(Swagger):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            "add_csrf": any(getattr(auth, "csrf", False) for auth in _auths(api)),
        }
        return render(request, self.template, context)


def _auths(api: NinjaAPI) -> Sequence[Any]:
    return api.auth if isinstance(api.auth, Sequence) else ()
