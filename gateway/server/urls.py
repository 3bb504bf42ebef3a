"""The server's URL conf: health, the admin, the management API (/api), the units' own
URLs, and the console at the root.

The console's URL conf (its views, forms and the gateway modules they use: 3.5-5 MB of
a worker of ``serve``) is loaded when a path first reaches it, not with this module: a
worker that has only answered /api (a deployment configured through the management API)
and the health checks never loads it. ``include()`` imports its module at once; a
resolver given the module's name imports it on its first resolve that gets that far, or
the first ``reverse()`` (which reads every pattern).
"""

from django.contrib import admin
from django.urls import URLResolver, include, path, re_path
from django.urls.resolvers import RoutePattern

from gateway.access.login_throttle import throttled_sign_in
from gateway.edge import health
from gateway.edge.api import api, slashless_aliases
from gateway.web import units
from gateway.web.api import errors

urlpatterns = [
    path("health/liveliness", health.liveliness, name="health-liveliness"),
    path("health/readiness", health.readiness, name="health-readiness"),
    path("health", health.deployments, name="health-deployments"),
    path("admin/login/", throttled_sign_in(admin.site.login)),  # before admin.site.urls
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("api/", include(slashless_aliases())),
    re_path(r"^api/", errors.unknown_path),  # every other /api path: a JSON 404
    # the units' own URLs outside the console (MCP's /.well-known/..., /oauth/...)
    *(path("", include(module)) for module in units.modules("urls")),
    # include("console.urls") without importing it: its app_name is the namespace
    URLResolver(
        RoutePattern("", is_endpoint=False), "console.urls", app_name="console", namespace="console"
    ),
]

handler404 = "console.views.errors.not_found"
handler500 = "console.views.errors.server_error"
