"""The cache doctor as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; it plugs nothing into the request path, only its page and API."""

from __future__ import annotations

from gateway.web.units import Unit


class CacheDoctorConfig(Unit):
    name = "gateway.features.cache_doctor"
    label = "cache_doctor"
    verbose_name = "Switchyard cache doctor"
