"""Settings come from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import ROOT, gateway_env


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = gateway_env(tmp_path, env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "nosuchdb://x/y"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("SWITCHYARD_MAX_BODY_BYTES", "lots"),
        ("SWITCHYARD_READ_TIMEOUT", "-1"),
        ("SWITCHYARD_LOG_BODIES", "sometimes"),
        ("LOG_LEVEL", "LOUD"),
        ("SWITCHYARD_REGION", "eu west"),  # a name of letters, digits, - and _
        ("SWITCHYARD_REGION", "eu"),  # several regions: not on SQLite (one region)
        ("SWITCHYARD_LEDGER_SLICE_PERCENT", "0"),
    ],
)
def test_bad_value_fails_start_up_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    result = run_check(tmp_path, **{name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_fresh_data_folder_gets_a_secret_key_kept_for_next_start(tmp_path: Path) -> None:
    env = {"SECRET_KEY": ""}
    assert run_check(tmp_path, **env).returncode == 0
    key_file = tmp_path / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 40
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert run_check(tmp_path, **env).returncode == 0
    assert key_file.read_text() == first


def test_valid_postgres_and_redis_urls_are_accepted(tmp_path: Path) -> None:
    result = run_check(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DEBUG="false",
    )
    assert result.returncode == 0, result.stderr
