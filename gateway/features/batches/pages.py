"""The batches' console page (``gateway.web.pages.Page``): every key's batch jobs and
their results, for admins."""

from __future__ import annotations

from gateway.features.batches import views
from gateway.web.pages import Nav, Page, register

VIEW = "batches.view"
BATCHES = Nav("Observe", "Batches", ("batch",), order=50)

register(
    Page("batches/", views.batch_list, "batches", read=VIEW, nav=BATCHES),
    Page("batches/<str:batch_id>/cancel/", views.batch_cancel, "batch-cancel", read=VIEW),
    Page(
        "batches/<str:batch_id>/<str:which>.jsonl",
        views.batch_download,
        "batch-download",
        read=VIEW,
    ),
)
