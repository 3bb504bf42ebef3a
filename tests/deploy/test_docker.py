"""The Docker image and the compose file. No Docker engine runs here, so the image is
not built: the compose file is validated by the compose CLI where one is installed
(and parsed either way), the entrypoint script is run for real outside a container,
and the image's start command is checked against the README's."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.live import ROOT, free_port, gateway_env, wait_until_up

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
REQUIRED = {"POSTGRES_PASSWORD": "pw-1", "SECRET_KEY": "secret-1", "SWITCHYARD_MASTER_KEY": "sy-m"}


def compose_cli() -> list[str] | None:
    """``docker compose`` (the v2 plugin) or ``docker-compose``, whichever is installed."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instruction(name: str) -> list[str]:
    return [rest for word, rest in dockerfile_instructions() if word == name]


def check_services(config: dict) -> None:
    services = config["services"]
    assert {"postgres", "redis", "switchyard-a", "switchyard-b"} <= set(services)
    instances = [services["switchyard-a"], services["switchyard-b"]]
    envs = [s["environment"] for s in instances]
    for env in envs:
        assert env["DATABASE_URL"].startswith("postgres://switchyard:")
        assert "@postgres:5432/switchyard" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert envs[0]["SECRET_KEY"] == envs[1]["SECRET_KEY"]  # one secret for all instances
    assert envs[0]["SWITCHYARD_MASTER_KEY"] == envs[1]["SWITCHYARD_MASTER_KEY"]
    mounts = [
        [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in s["volumes"]]
        for s in instances
    ]
    for volumes in mounts:
        assert any(v.split(":")[1] == "/data" for v in volumes)
        assert any(v.split(":")[1] == "/config" for v in volumes)
    data = {next(v.split(":")[0] for v in volumes if ":/data" in v) for volumes in mounts}
    assert len(data) == 2  # each instance its own data folder (its workers' metrics)
    assert data <= set(config["volumes"])
    ports = {str(s["ports"][0]) for s in instances}
    assert len(ports) == 2
    assert [bind_address(s["ports"][0]) for s in instances] == ["127.0.0.1", "127.0.0.1"]
    assert "switchyard-a" in instances[1]["depends_on"]  # one migrates at a time
    assert {"postgres", "redis"} <= set(instances[0]["depends_on"])


def bind_address(port) -> str:
    """The host address a compose port is published on ("" for every interface)."""
    if isinstance(port, dict):  # the CLI's resolved long form
        return port.get("host_ip", "")
    parts = str(port).split(":")
    address = ":".join(parts[:-2]) if len(parts) > 2 else ""
    return address.replace("${SWITCHYARD_BIND:-127.0.0.1}", "127.0.0.1")


def test_compose_file_parses_with_shared_database_redis_and_volumes():
    """The fallback check that runs everywhere (anchors and merges resolved by YAML)."""
    config = yaml.safe_load(COMPOSE.read_text())
    check_services(config)


def test_compose_cli_validates_the_file(tmp_path: Path):
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {**os.environ, **REQUIRED}
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    check_services(resolved)
    env_a = resolved["services"]["switchyard-a"]["environment"]
    assert env_a["SECRET_KEY"] == "secret-1" and ":pw-1@postgres:" in env_a["DATABASE_URL"]
    missing = {k: v for k, v in env.items() if k != "SECRET_KEY"}
    refused = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config"], capture_output=True, text=True, env=missing, cwd=ROOT
    )
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr + refused.stdout


def test_dockerfile_is_slim_python_non_root_with_a_liveliness_healthcheck():
    (base,) = instruction("FROM")
    assert base == "python:3.11-slim"
    users = instruction("USER")
    assert users and users[-1] not in ("root", "0")
    (health,) = instruction("HEALTHCHECK")
    assert "/health/liveliness" in health
    runs = " ".join(instruction("RUN"))
    assert 'pip install ".[otel]"' in runs  # the project, from its own files
    copied = " ".join(instruction("COPY"))
    for path in ("pyproject.toml", "gateway", "console", "manage.py"):
        assert path in copied
    assert "deploy/docker-entrypoint.sh" in copied


def test_the_image_starts_the_readme_command():
    (entry,) = instruction("ENTRYPOINT")
    assert json.loads(entry) == ["switchyard-entrypoint"]
    assert os.access(ENTRYPOINT, os.X_OK)  # COPY keeps the mode: the image runs it as is
    assert "deploy/docker-entrypoint.sh /usr/local/bin/switchyard-entrypoint" in " ".join(
        instruction("COPY")
    )
    (exec_line,) = [
        line for line in ENTRYPOINT.read_text().splitlines() if line.startswith("exec ")
    ]
    assert (
        "python manage.py serve" in exec_line
        and '--workers "${SWITCHYARD_WORKERS:-2}"' in exec_line
    )
    readme = (ROOT / "README.md").read_text()
    assert exec_line in readme  # the README shows the image's start command as it is
    assert "python manage.py serve --workers 2" in readme  # the recommended command
    assert "SWITCHYARD_WORKERS=2" in " ".join(instruction("ENV"))
    assert "not built" in readme.split("## Running in production")[1].split("\n## ")[0]


def test_dockerignore_keeps_the_context_to_the_sources():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "data", "tests", ".env"} <= ignored
    needed = {"gateway", "console", "deploy", "manage.py", "pyproject.toml"}
    assert not needed & ignored


@pytest.fixture
def litellm_config(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "config.yaml"
    path.parent.mkdir()
    path.write_text(
        "model_list:\n"
        "  - model_name: imported-at-start\n"
        "    litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY}\n"
        "litellm_settings: {cache: true, cache_params: {type: local, ttl: 120}}\n"
    )
    return path


def test_entrypoint_migrates_imports_the_config_and_serves(tmp_path: Path, litellm_config):
    """The container's start, run outside a container: /app and /config are pointed at
    this checkout and a temporary config; ``python`` is the test interpreter."""
    port = free_port()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "python"  # a venv's python must be run by its own path
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    env = gateway_env(tmp_path / "data")
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        SWITCHYARD_APP_DIR=str(ROOT),
        SWITCHYARD_IMPORT_CONFIG=str(litellm_config),
        SWITCHYARD_PORT=str(port),
        SWITCHYARD_WORKERS="1",
    )
    log = tmp_path / "entrypoint.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["sh", str(ENTRYPOINT)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log, timeout=60)
        models = httpx.get(
            url + "/v1/models", headers={"Authorization": f"Bearer {env['SWITCHYARD_MASTER_KEY']}"}
        ).json()
        assert [m["id"] for m in models["data"]] == ["imported-at-start"]
        healthcheck = json.loads(re.search(r"CMD (\[.*\])", instruction("HEALTHCHECK")[0])[1])
        healthcheck[0] = sys.executable
        probe = subprocess.run(healthcheck, env=env, capture_output=True, timeout=10)
        assert probe.returncode == 0, probe.stderr
    finally:
        process.terminate()  # exec'd: the server itself gets the SIGTERM
        assert process.wait(timeout=30) is not None
    text = log.read_text()
    assert f"importing {litellm_config}" in text and "Traceback" not in text
    route = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from gateway.models import Route; print(Route.objects.get().cache_ttl)",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert route.stdout.strip().splitlines()[-1] == "120"
