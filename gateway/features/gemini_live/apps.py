"""The Gemini Live relay as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; its one part in the request path is its socket (``hooks.api_sockets``)."""

from __future__ import annotations

from gateway.features.gemini_live import plugin
from gateway.web.units import Unit


class GeminiLiveConfig(Unit):
    name = "gateway.features.gemini_live"
    label = "gemini_live"
    verbose_name = "Switchyard Gemini Live relay"

    def register(self) -> None:

        plugin.register()
