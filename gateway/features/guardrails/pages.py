"""The guardrails' console pages (``gateway.web.pages.Page``): everyone with a role
reads them; owners and admins change, test and replay them (a replay reads any key's
logged bodies). Composed into the console by ``console/urls.py``."""

from __future__ import annotations

from gateway.features.guardrails import views
from gateway.web.pages import Nav, Page, register

VIEW = "guardrails.view"
EDIT = "guardrails.edit"
GUARDRAILS = Nav("Access", "Guardrails", ("guardrail",), order=30)

register(
    Page("guardrails/", views.guardrail_list, "guardrails", read=VIEW, write=EDIT, nav=GUARDRAILS),
    Page("guardrails/new/", views.guardrail_create, "guardrail-create", read=EDIT),
    Page("guardrails/<int:pk>/", views.guardrail_detail, "guardrail-detail", read=VIEW, write=EDIT),
    *(
        Page(f"guardrails/<int:pk>/{action}/", view, f"guardrail-{action}", read=EDIT)
        for action, view in (
            ("edit", views.guardrail_edit),
            ("delete", views.guardrail_delete),
            ("monitor", views.guardrail_monitor),
            ("test", views.guardrail_test),
            ("replay", views.guardrail_replay),
        )
    ),
)
