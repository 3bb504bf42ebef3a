"""The media endpoints as a unit (``gateway.web.units``): a job per endpoint and the
Gemini image case, registered into the pipeline (``plugin.py``)."""

from __future__ import annotations

from gateway.web.units import Unit


class MediaConfig(Unit):
    name = "gateway.features.media"
    label = "media"
    verbose_name = "Switchyard images and audio"

    def register(self) -> None:
        from gateway.features.media import plugin

        plugin.register()
