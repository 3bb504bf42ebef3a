"""Fixtures the people tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.access import sso
from gateway.features.people import sso_users


@pytest.fixture
def clean_env(monkeypatch) -> Iterator[pytest.MonkeyPatch]:
    """No single sign-on setting from the environment, nothing of it remembered; the
    monkeypatch, to set some."""
    for variable in sso.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    sso.forget()
    sso_users._registry.cache_clear()
    yield monkeypatch
    sso.forget()
    sso_users._registry.cache_clear()
