"""Every catalog test reads the bundled file with no user override, unless it writes one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.catalog import store


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path) -> Iterator[None]:
    settings.DATA_DIR = tmp_path
    store.reset()
    yield
    store.reset()
