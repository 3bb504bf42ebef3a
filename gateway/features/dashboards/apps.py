"""Pinned charts as a unit (``gateway.web.units``): its rule and field rules
(``rules.py``), its pages and the board it draws on the console's dashboard
(``pages.py``), its ``/api`` router. The table stays in the store
(``gateway.models.dashboards``)."""

from gateway.web.units import Unit


class DashboardsConfig(Unit):
    name = "gateway.features.dashboards"
    label = "dashboards"
    api_paths = ("dashboards",)  # /api/<each>/...
