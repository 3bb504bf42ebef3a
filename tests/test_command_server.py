"""``tests/command_server.py``: a management command run in a forked child answers
as ``manage.py`` in a process of its own would, and leaves nothing to the next."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.command_client import CommandServer
from tests.live import gateway_env, manage


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = gateway_env(tmp_path_factory.mktemp("commands"))
    manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0")
    return env


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[CommandServer]:
    server = CommandServer(env)
    yield server
    server.close()


def run(server: CommandServer, *args: str) -> tuple[int, str, str]:
    result = server.run(list(args))
    assert result is not None
    return result.returncode, result.stdout, result.stderr


def test_a_command_answers_with_its_output_and_status(server: CommandServer) -> None:
    code, out, _ = run(
        server,
        "shell",
        "-c",
        "from gateway.models import Route; Route.objects.create(name='one'); "
        "print(Route.objects.filter(name='one').count())",
    )
    assert code == 0 and out.splitlines()[-1] == "1"
    code, out, _ = run(server, "shell", "-c", "print(Route.objects.filter(name='one').count())")
    assert code == 0 and out.splitlines()[-1] == "1"  # written to the database, seen again


def test_failures_keep_their_status_and_message(server: CommandServer) -> None:
    code, _, err = run(server, "shell", "-c", "raise ValueError('boom')")
    assert code == 1 and "ValueError: boom" in err
    code, _, err = run(server, "create_key", "--name", "k", "--rpm", "lots")
    assert code == 1 and "--rpm" in err
    code, _, err = run(server, "shell", "-c", "import sys; sys.exit(4)")
    assert code == 4


def test_nothing_one_command_changes_in_the_process_reaches_the_next(
    server: CommandServer,
) -> None:
    run(server, "shell", "-c", "import gateway; gateway.LEFT_BEHIND = 1")
    _, out, _ = run(server, "shell", "-c", "import gateway; print(hasattr(gateway, 'LEFT_BEHIND'))")
    assert out.splitlines()[-1] == "False"


def test_an_environment_django_refuses_runs_as_a_process(env: dict[str, str]) -> None:
    server = CommandServer({**env, "DATABASE_URL": "nonsense://"})
    assert server.run(["shell", "-c", "print(1)"]) is None and server.process is None


def test_a_settings_file_that_appears_makes_the_server_stale(
    env: dict[str, str], server: CommandServer
) -> None:
    assert server.serves(env)
    master_key = Path(env["SWITCHYARD_DATA_DIR"]) / "master_key"
    master_key.write_text("sy-from-seed")
    try:
        assert not server.serves(env)
    finally:
        master_key.unlink()
