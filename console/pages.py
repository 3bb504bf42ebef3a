"""The console's own pages, declared once each (``gateway.web.pages.Page``): route, view,
URL name, the abilities its role needs (gateway/access/roles.py), its link in the top bar.
A feature's pages are declared in the feature; the playground's and the evaluations' in
``console/playground/pages.py`` and ``console/evals/pages.py``. Grouped by area, in the
order the URLs were matched before (no two routes here overlap)."""

from __future__ import annotations

from console.views import (
    add_model,
    assets,
    audit,
    bills,
    catalog,
    config,
    dashboard,
    health,
    keys,
    logs,
    providers,
    routes,
    scores,
    sessions,
    shadow,
    spend,
    usage,
)  # fmt: skip
from gateway.web.pages import Nav, Page, register

# --- the dashboard, static files ---------------------------------------------
DASHBOARD = Nav("", "Dashboard", ("dashboard",))
register(
    Page("", dashboard.dashboard, "dashboard", read="dashboard.view", nav=DASHBOARD),
    # anyone: the console's own static files (signing in and out: the people unit)
    Page("static/<path:path>", assets.static_file, "static", read=None),
)  # fmt: skip

# --- providers, routes, deployments ------------------------------------------------------
PROVIDERS = Nav("Models", "Providers", ("provider",), order=20)
ROUTES = Nav("Models", "Routes", ("route", "deployment", "config", "add-model"), order=10)
register(
    Page("providers/", providers.provider_list, "providers", read="providers.view", write="providers.edit", nav=PROVIDERS),
    Page("providers/new/", providers.provider_create, "provider-create", read="providers.edit"),
    Page("providers/<int:pk>/", providers.provider_edit, "provider-edit", read="providers.edit"),
    Page("providers/<int:pk>/delete/", providers.provider_delete, "provider-delete", read="providers.edit"),
    Page("providers/<int:pk>/test/", providers.provider_test, "provider-test", read="providers.edit"),
    Page("routes/", routes.route_list, "routes", read="routes.view", write="routes.edit", nav=ROUTES),
    Page("routes/new/", routes.route_create, "route-create", read="routes.edit"),
    # a provider, route and deployment in one form; a new provider there: provider.change
    Page("routes/add-model/", add_model.add_model_page, "add-model", read="routes.edit"),
    Page("routes/add-model/models/", add_model.add_model_models, "add-model-models", read="routes.edit"),
    Page("routes/add-model/figures/", add_model.add_model_figures, "add-model-figures", read="routes.edit"),
    Page("routes/import/", config.config_import, "config-import", read="config.import"),
    Page("routes/health/", health.health, "deployment-health", read="health.view"),
    Page("routes/export/", config.config_export, "config-export", read="config.import"),
    Page("routes/<int:pk>/", routes.route_edit, "route-edit", read="routes.edit"),
    Page("routes/<int:pk>/toggle/", routes.route_toggle, "route-toggle", read="routes.edit"),
    # shadow traffic compares answers of every key's requests
    Page("routes/<int:pk>/shadow/", shadow.route_shadow, "route-shadow", read="traffic.compare"),
    Page("routes/<int:pk>/shadow/scoring/<int:run>/", shadow.shadow_scoring_progress, "route-shadow-scoring", read="traffic.compare"),
    Page("routes/<int:pk>/delete/", routes.route_delete, "route-delete", read="routes.edit"),
    Page("routes/<int:pk>/deployments/new/", routes.deployment_create, "deployment-create", read="routes.edit"),
    Page("deployments/models/", routes.deployment_models, "deployment-models", read="routes.edit"),
    Page("deployments/<int:pk>/", routes.deployment_edit, "deployment-edit", read="routes.edit"),
    Page("deployments/<int:pk>/delete/", routes.deployment_delete, "deployment-delete", read="routes.edit"),
)  # fmt: skip

# --- keys ---------------------------------------------------------------------------------
KEYS = Nav("Access", "Keys", ("key",), order=10)
register(
    Page("keys/", keys.key_list, "keys", read="keys.view", write="keys.edit", nav=KEYS),
    Page("keys/new/", keys.key_create, "key-create", read="keys.edit"),
    Page("keys/<int:pk>/edit/", keys.key_edit, "key-edit", read="keys.edit"),
    Page("keys/<int:pk>/revoke/", keys.key_revoke, "key-revoke", read="keys.edit"),
)  # fmt: skip

# --- spend, audit, the catalog, logs, scores ----------------------------------------------
SPEND = Nav("Observe", "Spend", ("spend", "usage", "bills"), order=30)
AUDIT = Nav("Observe", "Audit", ("audit",), order=60)
CATALOG = Nav("Models", "Catalog", ("catalog",), order=30)
LOGS = Nav("Observe", "Logs", ("logs", "log-detail"), order=10)
SESSIONS = Nav("Observe", "Sessions", ("session",), order=15)
SCORES = Nav("Observe", "Scores", ("scores",), order=20)
register(
    # one spend page: Spend (the old usage page redirects there)
    Page("usage/", spend.usage_moved, "usage", read="usage.view"),
    Page("usage/export.csv", usage.usage_csv, "usage-csv", read="usage.view"),
    # a reader below admin sees its own keys' figures only
    Page("spend/", spend.spend_page, "spend", read="usage.view", nav=SPEND),
    # the providers' bills beside the journal (as /api/bill-drift): admins read, owners
    # reconcile now
    Page("spend/bills/", bills.bills_page, "bills", read="spend.view", write="settings.edit"),
    Page("spend/export.csv", spend.spend_csv, "spend-csv", read="usage.view"),
    # tag budgets (as /api/tags): owners and admins
    Page("spend/tag-budgets", spend.tag_budget_save, "tag-budget-save", read="teams.edit"),
    Page("spend/tag-budgets/<int:pk>/delete", spend.tag_budget_delete, "tag-budget-delete", read="teams.edit"),
    Page("audit/", audit.audit_page, "audit", read="audit.view", nav=AUDIT),
    Page("audit/export", audit.audit_export, "audit-export", read="audit.view"),
    Page("catalog/", catalog.catalog_browser, "catalog", read="catalog.view", nav=CATALOG),
    Page("logs/", logs.log_list, "logs", read="logs.view", nav=LOGS),
    Page("logs/<str:request_id>/", logs.log_detail, "log-detail", read="logs.view"),
    # rows: roles.visible_logs
    Page("sessions/", sessions.session_list, "sessions", read="logs.view", nav=SESSIONS),
    Page("sessions/<path:session>/", sessions.session_detail, "session-detail", read="logs.view"),
    # scores: anyone who sees a request may score it; judging a slice calls routes over
    # every key's bodies (evaluations' ability)
    Page("logs/<str:request_id>/score/", scores.log_score, "log-score", read="logs.view"),
    Page("scores/", scores.scores_page, "scores", read="logs.view", write="evals.use", nav=SCORES),
    Page("scores/runs/<int:pk>/", scores.scores_run, "scores-run", read="evals.use"),
)  # fmt: skip
