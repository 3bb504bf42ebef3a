"""The prompt registry's console pages (``gateway.web.pages.Page``): every role reads;
writes by rule ``prompt.change``."""

from __future__ import annotations

from gateway.features.prompts import views
from gateway.web.pages import Nav, Page, register

register(
    Page(
        "prompts/",
        views.prompt_list,
        "prompts",
        read="prompts.view",
        write="prompts.edit",
        nav=Nav("Build", "Prompts", ("prompt",), order=20),
    ),
    Page(
        "prompts/<str:name>/",
        views.prompt_detail,
        "prompt-detail",
        read="prompts.view",
        write="prompts.edit",
    ),
    Page("prompts/<str:name>/diff/", views.prompt_diff, "prompt-diff", read="prompts.view"),
)
