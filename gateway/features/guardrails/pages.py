"""The guardrails' console pages (``gateway.web.pages.Page``): everyone with a role
reads them; owners and admins change, test and replay them (a replay reads any key's
logged bodies). Composed into the console by ``console/urls.py``."""

from __future__ import annotations

from gateway.features.guardrails import views
from gateway.web.pages import Nav, Page, register

register(
    Page(
        "guardrails/",
        views.guardrail_list,
        "guardrails",
        read="guardrails.view",
        write="guardrails.edit",
        nav=Nav("Access", "Guardrails", ("guardrail",), order=30),
    ),
    Page("guardrails/new/", views.guardrail_create, "guardrail-create", read="guardrails.edit"),
    Page(
        "guardrails/<int:pk>/",
        views.guardrail_detail,
        "guardrail-detail",
        read="guardrails.view",
        write="guardrails.edit",
    ),
    *(
        Page(f"guardrails/<int:pk>/{action}/", view, f"guardrail-{action}", read="guardrails.edit")
        for action, view in (
            ("edit", views.guardrail_edit),
            ("delete", views.guardrail_delete),
            ("monitor", views.guardrail_monitor),
            ("test", views.guardrail_test),
            ("replay", views.guardrail_replay),
        )
    ),
)
