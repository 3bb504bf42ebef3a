"""Settings read once for the request path (gateway.base.hot_settings): a value is what
``settings`` says, and a change Django announces is seen on the next read."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from gateway.base.hot_settings import hot


def test_a_value_is_the_settings_value_and_is_kept() -> None:
    hot.forget()
    assert hot.SWITCHYARD_LOG_BODY_MAX_BYTES == django_settings.SWITCHYARD_LOG_BODY_MAX_BYTES
    assert "SWITCHYARD_LOG_BODY_MAX_BYTES" in vars(hot)  # later reads skip LazySettings


def test_a_change_django_announces_is_seen(settings: Any) -> None:
    before = hot.SWITCHYARD_MAX_HEADERS
    settings.SWITCHYARD_MAX_HEADERS = before + 7  # pytest-django: override_settings
    seen = [hot.SWITCHYARD_MAX_HEADERS]
    with override_settings(SWITCHYARD_MAX_HEADERS=3):
        seen.append(hot.SWITCHYARD_MAX_HEADERS)
    seen.append(hot.SWITCHYARD_MAX_HEADERS)
    assert seen == [before + 7, 3, before + 7]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = hot.NO_SUCH_SETTING
    with pytest.raises(AttributeError):
        _ = hot.__deepcopy__
