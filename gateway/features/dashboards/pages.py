"""The pinned charts' pages (``gateway.web.pages.Page``): pin, unpin and reorder a
board's charts (owners and admins every board, editors and members their teams', rule
``dashboard.pin``; viewers read boards only), and the board itself, a ``Panel`` of the
console's dashboard."""

from __future__ import annotations

from gateway.features.dashboards import views
from gateway.web.pages import Page, Panel, register, register_panel

PIN = "dashboard.pin"

register(
    Page("dashboard/pin/", views.pin_chart, "dashboard-pin", read=PIN),
    Page("dashboard/pins/<int:pk>/unpin/", views.unpin_chart, "dashboard-unpin", read=PIN),
    Page("dashboard/pins/<int:pk>/move/", views.move_chart, "dashboard-move", read=PIN),
)
register_panel(Panel("dashboard", views.BOARD_ID, views.board))
