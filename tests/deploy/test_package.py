"""The published distribution: a wheel built from the project's own files carries what a
server needs (templates, static files, migrations, the catalog), and after installing
it ``switchyard up`` alone starts the gateway with its console, its state in the user's
data folder (not site-packages). The wheel is installed into a folder of its own, so the
source checkout is not what runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import MASTER_KEY, free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("switchyard_gateway-*.whl")
    return path


def test_the_wheel_carries_templates_static_files_migrations_and_the_catalog(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "console/templates/console/dashboard.html" in names
    assert "console/templates/base.html" in names
    assert "console/static/console/console.css" in names
    assert any(n.startswith("console/static/vendor/") for n in names)
    # a unit's own templates and static files, beside its code (gateway/web/units.py)
    assert "gateway/features/guardrails/templates/guardrails/list.html" in names
    assert "gateway/features/guardrails/static/guardrails/guardrails.js" in names
    assert "gateway/features/mcp/templates/mcp/servers.html" in names
    assert "gateway/migrations/0001_initial.py" in names
    assert "gateway/catalog/models.json" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "switchyard = gateway.ops.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "-t",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    home = tmp_path_factory.mktemp("home")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWITCHYARD_", "DATABASE_URL", "REDIS_URL", "DJANGO_"))
    }
    env.update(
        HOME=str(home),
        PYTHONPATH=str(target),  # the wheel's files come before the checkout's editable install
        SWITCHYARD_MASTER_KEY=MASTER_KEY,
        SWITCHYARD_WORKERS="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("XDG_DATA_HOME", None)
    yield {"target": str(target), "home": str(home), **env}


def test_switchyard_up_starts_the_gateway_and_console_from_the_installed_package(
    installed: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in installed.items() if k not in ("target", "home")}
    port = free_port()
    log_path = tmp_path / "up.log"
    script = Path(installed["target"]) / "bin" / "switchyard"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(script), "up", "--port", str(port)],
            cwd=tmp_path,  # not the checkout
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log_path)
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import gateway, console; print(gateway.__file__, console.__file__)",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        assert str(ROOT) not in probe.stdout and installed["target"] in probe.stdout
        data = Path(installed["home"]) / ".local" / "share" / "switchyard"
        assert (data / "switchyard.sqlite3").exists()  # the user's data folder
        assert not (Path(installed["target"]) / "data").exists()  # never site-packages
        login = httpx.get(url + "/login/", timeout=10)
        assert login.status_code == 200 and "Switchyard" in login.text
        assert httpx.get(url + "/static/console/console.css", timeout=10).status_code == 200
        answer = httpx.post(
            url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert "hi" in answer.json()["choices"][0]["message"]["content"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
