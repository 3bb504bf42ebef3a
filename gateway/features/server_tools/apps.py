"""Server tools as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; its one part in the request path is an extra job of the chat job
(``hooks.extra_jobs``, ``plugin``)."""

from __future__ import annotations

from gateway.web.units import Unit


class ServerToolsConfig(Unit):
    name = "gateway.features.server_tools"
    label = "server_tools"
    verbose_name = "Switchyard server tools"
