"""The management commands as a person runs them (``python manage.py ...`` in a
subprocess): every failure is one clear line on stderr and a non-zero exit, never a
traceback and never a secret; a forgiving import still exits 0 and says what it skipped."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.live import gateway_env, manage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "litellm"
DB_PASSWORD = "hunter2-Db-Password-77"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = gateway_env(tmp_path_factory.mktemp("cli-db"))
    manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0")
    return env


@pytest.fixture(scope="module")
def unmigrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return gateway_env(tmp_path_factory.mktemp("cli-empty"))


def fails_with_one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read {file}: No such file or directory"),
        ("model_list:\n  - model_name: [\n", "invalid YAML at line 3"),
        ("- a\n- b\n", "must be a mapping at the top level, got a list"),
        ("", "the config is empty"),
        (b"model_list: []\n\xff\xfe\n", "cannot read {file}: not UTF-8 text (byte 0xff"),
        ("model_list: {a: 1}\n", "model_list: must be a list"),
    ],
)
def test_import_config_errors(
    migrated: dict[str, str], tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = manage(migrated, "import_config", str(path), check=False)
    fails_with_one_line(result, "CommandError", expected.format(file=path))


def test_import_config_of_a_directory(migrated: dict[str, str], tmp_path: Path) -> None:
    result = manage(migrated, "import_config", str(tmp_path), check=False)
    fails_with_one_line(result, f"cannot read {tmp_path}: it is a directory")


def test_forgiving_import_exits_zero_and_strict_fails(migrated: dict[str, str]) -> None:
    messy = str(FIXTURES / "messy.yaml")
    strict = manage(migrated, "import_config", messy, "--strict", check=False)
    fails_with_one_line(strict, "2 part(s) cannot be imported", "provider 'sagemaker'")
    dry = manage(migrated, "import_config", messy, "--dry-run", check=False)
    assert dry.returncode == 0, dry.stderr
    assert "warning: model_list[1].litellm_params.api_base: environment variable " in dry.stdout
    assert "dry run, nothing was changed: 7 routes, 8 deployments to import" in dry.stdout
    applied = manage(migrated, "import_config", messy, check=False)
    assert applied.returncode == 0, applied.stderr
    assert "summary: 7 routes, 8 deployments imported, 2 entries skipped" in applied.stdout


def test_export_config_to_an_unwritable_place(migrated: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "config.yaml"
    result = manage(migrated, "export_config", "--output", str(target), check=False)
    fails_with_one_line(result, f"cannot write {target}")


def test_create_key_with_bad_values(migrated: dict[str, str]) -> None:
    result = manage(migrated, "create_key", "--name", "k", "--rpm", "lots", check=False)
    fails_with_one_line(result, "key not created", "--rpm")


@pytest.mark.parametrize(
    "command",
    [
        ["import_config", str(FIXTURES / "realistic.yaml")],
        ["export_config"],
        ["create_key", "--name", "k"],
        ["seed_demo"],
        ["prune_logs", "--older-than", "30d"],
        ["rebuild_rollups"],
    ],
)
def test_unmigrated_database_is_one_line(unmigrated: dict[str, str], command: list[str]) -> None:
    result = manage(unmigrated, *command, check=False)
    fails_with_one_line(result, "database error: no such table", "manage.py migrate")


def test_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    env = gateway_env(
        tmp_path, {"DATABASE_URL": f"postgres://sy:{DB_PASSWORD}@127.0.0.1:9/switchyard"}
    )
    result = manage(env, "export_config", check=False)
    line = fails_with_one_line(result, "database error")
    assert DB_PASSWORD not in line


def test_bad_setting_is_one_line(tmp_path: Path) -> None:
    env = gateway_env(tmp_path, {"SWITCHYARD_MAX_BODY_BYTES": "lots"})
    result = manage(env, "export_config", check=False)
    fails_with_one_line(result, "configuration error: SWITCHYARD_MAX_BODY_BYTES")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["create_key"], "error: the following arguments are required: --name"),
        (["import_config"], "error: the following arguments are required: file"),
        (["export_config", "--bogus"], "error: unrecognized arguments: --bogus"),
    ],
)
def test_usage_mistakes_are_one_line(
    migrated: dict[str, str], args: list[str], expected: str
) -> None:
    fails_with_one_line(manage(migrated, *args, check=False), expected)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_busy_port_is_one_line(migrated: dict[str, str], workers: str) -> None:
    """daphne used to log the failure and exit 0; uvicorn to start workers first."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = manage(migrated, "serve", "--port", port, "--workers", workers, check=False)
    fails_with_one_line(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")
