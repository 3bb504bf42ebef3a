"""The management commands as a person runs them (``python manage.py ...`` in a
subprocess): every failure is one clear line on stderr and a non-zero exit, never a
traceback and never a secret; a forgiving import still exits 0 and says what it skipped."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.command_client import CommandServer
from tests.live import copy_template_database, gateway_env, manage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "litellm"
DB_PASSWORD = "hunter2-Db-Password-77"

Run = Callable[..., subprocess.CompletedProcess[str]]


def commands_on(env: dict[str, str]) -> Iterator[Run]:
    """``manage.py *args`` on ``env``, each in a child forked from one Django start
    (``tests/command_server.py``: the state a fresh ``manage.py`` reaches, its
    ``main``'s handling): 0.1 s a command, not a process start of about a second.
    ``test_a_forked_command_answers_as_manage_py`` holds the two to the same answer."""
    server = CommandServer(env)
    assert server.process is not None, "the command server did not start"
    try:
        yield lambda *args: manage(env, *args, check=False, commands=server)
    finally:
        server.close()


@pytest.fixture(scope="module")
def migrated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("cli-db")
    env = gateway_env(data_dir)
    if not copy_template_database(data_dir, env, seed=False):  # a migrate's own result
        manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0")
    return env


@pytest.fixture(scope="module")
def unmigrated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return gateway_env(tmp_path_factory.mktemp("cli-empty"))


@pytest.fixture(scope="module")
def migrated(migrated_env: dict[str, str]) -> Iterator[Run]:
    yield from commands_on(migrated_env)


@pytest.fixture(scope="module")
def unmigrated(unmigrated_env: dict[str, str]) -> Iterator[Run]:
    yield from commands_on(unmigrated_env)


def fails_with_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
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
    migrated: Run, tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = migrated("import_config", str(path))
    fails_with_one_line(result, "CommandError", expected.format(file=path))


def test_import_config_of_a_directory(migrated: Run, tmp_path: Path) -> None:
    result = migrated("import_config", str(tmp_path))
    fails_with_one_line(result, f"cannot read {tmp_path}: it is a directory")


def test_forgiving_import_exits_zero_and_strict_fails(migrated: Run) -> None:
    messy = str(FIXTURES / "messy.yaml")
    strict = migrated("import_config", messy, "--strict")
    fails_with_one_line(strict, "2 part(s) cannot be imported", "provider 'sagemaker'")
    dry = migrated("import_config", messy, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "warning: model_list[1].litellm_params.api_base: environment variable " in dry.stdout
    assert "dry run, nothing was changed: 7 routes, 8 deployments to import" in dry.stdout
    applied = migrated("import_config", messy)
    assert applied.returncode == 0, applied.stderr
    assert "summary: 7 routes, 8 deployments imported, 2 entries skipped" in applied.stdout


def test_export_config_to_an_unwritable_place(migrated: Run, tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "config.yaml"
    result = migrated("export_config", "--output", str(target))
    fails_with_one_line(result, f"cannot write {target}")


def test_create_key_with_bad_values(migrated: Run) -> None:
    result = migrated("create_key", "--name", "k", "--rpm", "lots")
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
def test_unmigrated_database_is_one_line(unmigrated: Run, command: list[str]) -> None:
    result = unmigrated(*command)
    fails_with_one_line(result, "database error: no such table", "manage.py migrate")


def test_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    env = gateway_env(
        tmp_path,
        {
            "DATABASE_URL": f"postgres://sy:{DB_PASSWORD}@127.0.0.1:9/switchyard",
            # the pool gives up after this (default 3 s): nothing listens on port 9
            "SWITCHYARD_DB_POOL_TIMEOUT": "0.3",
        },
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
def test_usage_mistakes_are_one_line(migrated: Run, args: list[str], expected: str) -> None:
    fails_with_one_line(migrated(*args), expected)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_busy_port_is_one_line(migrated: Run, workers: str) -> None:
    """daphne used to log the failure and exit 0; uvicorn to start workers first."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = migrated("serve", "--port", port, "--workers", workers)
    fails_with_one_line(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.mark.parametrize(
    ("commands", "args"),
    [
        ("migrated", ["import_config", "/nonexistent/config.yaml"]),
        ("unmigrated", ["export_config"]),
    ],
)
def test_a_forked_command_answers_as_manage_py(
    request: pytest.FixtureRequest, commands: str, args: list[str]
) -> None:
    """The tests above ask a child forked from one Django start; a person runs
    ``python manage.py``: its own ``main``, and whatever a start prints to stderr."""
    forked = request.getfixturevalue(commands)(*args)
    started = manage(request.getfixturevalue(f"{commands}_env"), *args, check=False)
    assert forked.returncode == started.returncode != 0
    assert (forked.stdout, forked.stderr) == (started.stdout, started.stderr)
    fails_with_one_line(started)
