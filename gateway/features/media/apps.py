"""The media endpoints as a unit (``gateway.web.units``): a job per endpoint and the
Gemini image case (``plugin.py``)."""

from gateway.web.units import Unit


class MediaConfig(Unit):
    name = "gateway.features.media"
    label = "media"
