"""The prompt registry's console pages (``gateway.web.pages.Page``): every role reads;
writes by rule ``prompt.change``."""

from __future__ import annotations

from gateway.features.prompts import views
from gateway.web.pages import Nav, Page, register

VIEW = "prompts.view"
EDIT = "prompts.edit"
PROMPTS = Nav("Build", "Prompts", ("prompt",), order=20)

register(
    Page("prompts/", views.prompt_list, "prompts", read=VIEW, write=EDIT, nav=PROMPTS),
    Page("prompts/<str:name>/", views.prompt_detail, "prompt-detail", read=VIEW, write=EDIT),
    Page("prompts/<str:name>/diff/", views.prompt_diff, "prompt-diff", read=VIEW),
)
