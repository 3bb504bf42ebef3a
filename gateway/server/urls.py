"""The server's URL conf: health, the admin, the management API (/api), the units' own
URLs, and the console at the root.

The console's URL conf (its views, forms and the gateway modules they use: 3.5-5 MB of
a worker of ``serve``), the units' own URLs (MCP's OAuth views) and the admin's URLs
are loaded when a path first reaches them, not with this module, and the API's
resources each on the first request under its paths (``gateway.web.api.mounts``): a
worker that has only answered /api (a deployment configured through the management API)
and the health checks never loads the others. ``include()`` imports its module at once;
a resolver given the module's name (or an object whose ``urlpatterns`` are built when
read) loads it on its first resolve that gets that far, or the first ``reverse()``
(which reads every pattern). Django resolves a path in the event loop: until those
modules are imported, the edge resolves a path in a thread first (``loader_for``), so
the console's ~280 ms import does not stall the requests its worker is serving.
"""

import contextlib
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, include, path, re_path
from django.urls.resolvers import RoutePattern

from gateway.access.login_throttle import throttled_sign_in
from gateway.edge import health
from gateway.edge.api import api, resources_for
from gateway.web import units
from gateway.web.api import errors


class AdminUrls:
    """``admin.site.urls``' patterns (every registered model's), built when first read."""

    @property
    def urlpatterns(self) -> list[URLPattern | URLResolver]:
        patterns: list[URLPattern | URLResolver] = admin.site.get_urls()
        return patterns


def unloaded(prefix: str, urlconf: Any, **names: Any) -> URLResolver:
    """``include(urlconf)`` at ``prefix``, without importing (or building) it yet."""
    return URLResolver(RoutePattern(prefix, is_endpoint=False), urlconf, **names)


urlpatterns = [
    path("health/liveliness", health.liveliness, name="health-liveliness"),
    path("health/readiness", health.readiness, name="health-readiness"),
    path("health", health.deployments, name="health-deployments"),
    path("admin/login/", throttled_sign_in(admin.site.login)),  # before admin.site.urls
    unloaded("admin/", AdminUrls(), app_name="admin", namespace=admin.site.name),
    path("api/", api.urls),
    path("api/", include(api.slashless_urls())),
    re_path(r"^api/", errors.unknown_path),  # every other /api path: a JSON 404
    # the units' own URLs outside the console (MCP's /.well-known/..., /oauth/...)
    *(unloaded("", module) for module in units.module_names("urls")),
    # include("console.urls"): its app_name is the namespace
    unloaded("", "console.urls", app_name="console", namespace="console"),
]

# the modules included unloaded, in the order a path reaches them
UNLOADED = (*units.module_names("urls"), "console.urls")


def loader_for(path: str) -> Callable[[], None] | None:
    """What the edge runs off its event loop before Django resolves ``path``: for /api,
    the import of the resources the path reaches (``gateway.edge.api.resources_for``);
    else a resolve of the path while a module this URL conf includes unloaded is not
    imported yet. None when nothing is left to load (and for health paths)."""
    if path.startswith("/api/"):
        return resources_for(path)
    if path.startswith("/health") or all(name in sys.modules for name in UNLOADED):
        return None
    return partial(_resolved, path)


def _resolved(path: str) -> None:
    # whatever it raises (a 404 most often), Django's own resolve raises again and answers
    with contextlib.suppress(Exception):
        get_resolver().resolve(path)


handler404 = "console.views.errors.not_found"
handler500 = "console.views.errors.server_error"
