"""Settings the request path reads on every request, each read through Django's
``settings`` once per value: ``LazySettings.__getattribute__`` is a Python method (about
1 µs a read on the bench machine, against 0.05 µs for an attribute of a plain object),
and a plain request read ten of them (#67).

``hot.NAME`` is ``settings.NAME``. Every value is forgotten when any setting changes the
way Django announces it (``override_settings``, pytest-django's ``settings`` fixture: the
``setting_changed`` signal), so the next read sees the new value. A setting changed
without the signal (``setattr`` on ``django.conf.settings`` itself) is not seen here:
such a setting is read from ``settings`` directly."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


class HotSettings:
    """``settings`` with each value read once: the first read of a name stores it in the
    instance, where later reads find it without calling ``__getattr__``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe these: not settings
            raise AttributeError(name)
        value = getattr(settings, name)
        self.__dict__[name] = value
        return value

    def forget(self) -> None:
        self.__dict__.clear()


hot = HotSettings()


def _forget(**kwargs: object) -> None:
    hot.forget()


setting_changed.connect(_forget)  # what @receiver does, typed
