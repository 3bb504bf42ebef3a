"""The systemd unit: ``systemd-analyze verify`` accepts it (where systemd is
installed), and it keeps what production needs: an environment file, restarts,
sandboxing, a state directory as the data folder, and a stop timeout longer than the
server's graceful shutdown."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.base import lifecycle
from tests.live import ROOT

UNIT = ROOT / "deploy" / "switchyard.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            name, _, value = line.partition("=")
            found.setdefault(name, []).append(value)
    return found


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return int(match[1]) * (60 if match[2] == "min" else 1)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    # The unit names /opt/switchyard; verify checks that ExecStart exists, so the copy
    # verified points at this checkout and this interpreter instead.
    text = UNIT.read_text().replace("/opt/switchyard/.venv/bin/python", sys.executable)
    copy = tmp_path / "switchyard.service"
    copy.write_text(text.replace("/opt/switchyard", str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if "switchyard.service" in line]
    assert not complaints, complaints  # unknown keys and bad values are only warnings


def test_a_broken_unit_is_caught_by_the_same_check(tmp_path: Path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    copy = tmp_path / "switchyard.service"
    copy.write_text(text.replace("/opt/switchyard/.venv/bin/python", sys.executable))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True
    )
    assert "ProtectSytem" in result.stderr


def test_the_unit_serves_with_workers_from_its_environment():
    unit = directives()
    (start,) = unit["ExecStart"]
    assert start.endswith("manage.py serve --no-migrate --workers ${SWITCHYARD_WORKERS}")
    assert any("migrate --no-input" in pre for pre in unit["ExecStartPre"])
    assert unit["EnvironmentFile"] == ["/etc/switchyard/switchyard.env"]
    environment = " ".join(unit["Environment"])
    assert "SWITCHYARD_WORKERS=2" in environment
    assert unit["Restart"] == ["on-failure"]


def test_the_unit_is_sandboxed_with_a_state_directory_as_data_folder():
    unit = directives()
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["PrivateTmp"] == ["yes"]
    (state,) = unit["StateDirectory"]
    assert f"SWITCHYARD_DATA_DIR=/var/lib/{state}" in " ".join(unit["Environment"])


def test_systemd_waits_longer_than_the_graceful_shutdown():
    unit = directives()
    assert unit["KillSignal"] == ["SIGTERM"]
    # the server's own backstop (grace period + margin) plus the journal drain after it
    graceful = lifecycle.server_timeout_seconds()
    assert seconds(unit["TimeoutStopSec"][0]) > graceful + 5
