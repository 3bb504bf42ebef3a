"""Budget alerts as a unit (``gateway.web.units``): its loop and notices (``plugin.py``),
its settings' field rules (``rules.py``), its page and ``/api`` router."""

from gateway.web.units import Unit


class AlertsConfig(Unit):
    name = "gateway.features.alerts"
    label = "alerts"
    api_paths = ("alerts",)  # /api/<each>/...
