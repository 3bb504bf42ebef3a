from django.contrib import admin
from django.urls import include, path, re_path

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
    path("", include("console.urls")),
]

handler404 = "console.views.errors.not_found"
handler500 = "console.views.errors.server_error"
