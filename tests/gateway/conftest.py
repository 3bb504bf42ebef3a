"""Fixtures shared by the gateway tests."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


@pytest.fixture
def socket_path():
    """Where a counter service may listen: a short path (Unix socket paths must fit in
    108 bytes; tmp_path may not)."""
    folder = tempfile.mkdtemp(prefix="sy-", dir="/tmp")
    yield os.path.join(folder, "limits.sock")
    shutil.rmtree(folder, ignore_errors=True)
