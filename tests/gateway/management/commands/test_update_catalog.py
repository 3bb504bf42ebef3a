"""``manage.py update_catalog FILE``: a file, ``-`` or an address it cannot read or
parse is one clear CommandError (one line on stderr, a failing exit status) and nothing is
written; a bad ``--date`` is refused before anything is read."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from django.core.management import CommandError

from gateway.catalog import update
from tests.gateway.catalog.conftest import own_data_dir  # noqa: F401 (autouse: no user override)
from tests.gateway.catalog.test_update import LITELLM, ROOT, run


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "unrecognised file"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": -1}}', "zero or more"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 1e30}}', "at most"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 1e308}}', "at most"),
        (
            '{"schema": 1, "providers": {"openai": {"as_of": "2026-11-20", "models": '
            '{"gpt-4o": {"input": 1e30}}}}}',
            "at most",
        ),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, content, message):
    source = tmp_path / "bad.json"
    source.write_text(content)
    with pytest.raises(CommandError, match=message):
        run(str(source))
    assert not (tmp_path / "catalog.json").exists()


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*nope.json"):
        run(str(tmp_path / "nope.json"))


def test_standard_input_and_exit_status(tmp_path):
    env = {**os.environ, "SWITCHYARD_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "manage.py", "update_catalog", "-", "--date", "2026-11-20"]
    bad = subprocess.run(
        command, input=b"{oops", capture_output=True, cwd=ROOT, env=env, timeout=60
    )
    assert bad.returncode != 0
    errors = [line for line in bad.stderr.decode().splitlines() if line.strip()]
    assert len(errors) == 1 and "standard input: not valid JSON" in errors[0]


def test_an_oversized_download_is_refused(monkeypatch):
    monkeypatch.setattr(update, "MAX_DOWNLOAD", 10)
    monkeypatch.setattr(
        update, "TRANSPORT", httpx.MockTransport(lambda r: httpx.Response(200, json=LITELLM))
    )
    with pytest.raises(CommandError, match="larger than"):
        run("https://prices.test/big.json")


def test_a_date_that_is_not_one_is_refused_before_reading(tmp_path):
    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD"):
        run(str(tmp_path / "nope.json"), date="20/11/2026")
