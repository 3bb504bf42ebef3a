from django.urls import include, path

from .views import assets, auth, config, dashboard, health, keys, logs, providers, routes

app_name = "console"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("static/<path:path>", assets.static_file, name="static"),
    path("logout/", auth.logout_view, name="logout"),
    path("providers/", providers.provider_list, name="providers"),
    path("providers/new/", providers.provider_create, name="provider-create"),
    path("providers/<int:pk>/", providers.provider_edit, name="provider-edit"),
    path("providers/<int:pk>/delete/", providers.provider_delete, name="provider-delete"),
    path("providers/<int:pk>/test/", providers.provider_test, name="provider-test"),
    path("routes/", routes.route_list, name="routes"),
    path("routes/new/", routes.route_create, name="route-create"),
    path("routes/import/", config.config_import, name="config-import"),
    path("routes/health/", health.health, name="deployment-health"),
    path("routes/export/", config.config_export, name="config-export"),
    path("routes/<int:pk>/", routes.route_edit, name="route-edit"),
    path("routes/<int:pk>/toggle/", routes.route_toggle, name="route-toggle"),
    path("routes/<int:pk>/delete/", routes.route_delete, name="route-delete"),
    path("routes/<int:pk>/deployments/new/", routes.deployment_create, name="deployment-create"),
    path("deployments/models/", routes.deployment_models, name="deployment-models"),
    path("deployments/<int:pk>/", routes.deployment_edit, name="deployment-edit"),
    path("deployments/<int:pk>/delete/", routes.deployment_delete, name="deployment-delete"),
    path("keys/", keys.key_list, name="keys"),
    path("keys/new/", keys.key_create, name="key-create"),
    path("keys/<int:pk>/edit/", keys.key_edit, name="key-edit"),
    path("keys/<int:pk>/revoke/", keys.key_revoke, name="key-revoke"),
    path("logs/", logs.log_list, name="logs"),
    path("logs/<str:request_id>/", logs.log_detail, name="log-detail"),
    path("playground/", include("console.playground.urls")),
]
