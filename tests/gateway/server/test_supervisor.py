"""``serve --workers N``: the process that stays (``gateway.server.supervisor``) loads no
Django, hosts the counters and the tokenizer for its workers, and the workers load
neither daphne's stack nor optional clients they do not use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.base.counters import SOCKET_ENV
from gateway.core.shared_tokenizer import TOKENIZER_ENV
from gateway.server.supervisor import UVICORN_WORKER_ENV, Plan, command
from tests.live import MASTER_KEY, running_gateway

ROOT = Path(__file__).resolve().parents[3]


LEFT_OUT = (
    "django", "channels", "tiktoken", "uvicorn", "multiprocessing", "watchfiles", "click",
    "regex",  # the tokenizer's pieces of a long text (#67): loaded with tiktoken
    "ssl", "uvloop",  # no TLS served or used: OpenSSL's libraries and set-up, 5 MB (#67)
)  # fmt: skip
# the requests' types and their counting: the service's tokenizer is token_pieces' (#67)
LEFT_OUT_OF_OURS = ("gateway.core.tokens", "gateway.base.types")


def test_the_supervisor_loads_neither_django_nor_uvicorn(tmp_path) -> None:
    """Everything the supervisor runs before it watches its workers (who import the
    application): the service started and the port bound, with neither Django nor
    uvicorn (nor multiprocessing, uvicorn's way to start workers) imported, nor ssl."""
    plan = Plan("gateway.server.asgi:application", 2, {"port": 0}, str(tmp_path / "s.sock"), True)
    # what command() runs before the supervisor's module (asyncio imported without ssl)
    prelude = command(plan)[2].removesuffix("from gateway.server.supervisor import main; main()")
    code = (
        prelude
        + f"""
import os, sys
from gateway.server import supervisor
def run(self):
    assert os.environ[{SOCKET_ENV!r}] == os.environ[{TOKENIZER_ENV!r}] == {plan.socket!r}
    assert os.environ[{UVICORN_WORKER_ENV!r}] == "1"
    assert os.path.exists({plan.socket!r})
    assert self.sock.getsockname()[0] == "127.0.0.1" and self.count == 2
    print(sorted(m for m in sys.modules if m.split(".")[0] in {LEFT_OUT!r}
                 or m in {LEFT_OUT_OF_OURS!r}))
    return 0
supervisor.Supervisor.run = run
supervisor.main()
"""
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code, plan.to_json()],
        cwd=tmp_path,  # the source tree is found through sys.path, as command() sets it
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_supervisor_command_finds_this_tree_from_anywhere(tmp_path) -> None:
    argv = command(Plan("x:y", 2))
    code = argv[2].replace("from gateway.server.supervisor import main; main()", "import gateway")
    code += "; print(gateway.__file__)"
    out = subprocess.run(
        [argv[0], "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == str(ROOT / "gateway" / "__init__.py"), out.stderr


def test_a_worker_loads_no_daphne_nor_optional_clients(tmp_path) -> None:
    code = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
import gateway.server.asgi, gateway.core.service
from django.conf import settings
assert "daphne" not in settings.INSTALLED_APPS
heavy = ("twisted", "daphne", "autobahn", "OpenSSL", "psycopg", "tiktoken",
         "opentelemetry", "botocore", "google.auth", "cryptography")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL"))}
    env.update({UVICORN_WORKER_ENV: "1", "SWITCHYARD_DATA_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "daphne", "stack"),
    [
        (["manage.py", "runserver"], True, False),  # daphne's app serves runserver
        (["manage.py", "create_key"], False, False),  # a command: neither
        (["manage.py", "serve"], False, False),  # the supervisor: workers import the stack
    ],
)
def test_only_runserver_loads_daphnes_app_and_no_command_the_request_stack(
    tmp_path, argv: list[str], daphne: bool, stack: bool
) -> None:
    """``runserver`` needs daphne's app (its ASGI development server); any other process
    starts without twisted, and without the request stack the batch and evaluation
    runners import (they are imported when a serving process starts them)."""
    code = f"""
import os, sys
sys.argv = {argv!r}
os.environ["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
import django
django.setup()
from django.conf import settings
print("daphne" in settings.INSTALLED_APPS, "twisted" in sys.modules,
      "gateway.core.service" in sys.modules, "gateway.features.batches.runner" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL"))}
    env.pop(UVICORN_WORKER_ENV, None)
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(daphne), str(daphne), str(stack), str(stack)]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the thread ended between listing and reading
            continue
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_serve_with_workers_runs_them_under_the_django_free_supervisor(tmp_path) -> None:
    with running_gateway(tmp_path / "gw", workers=2) as gw:
        reply = httpx.post(
            gw.url + "/v1/messages/count_tokens",
            headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
            json={"model": "echo", "messages": [{"role": "user", "content": "hello world"}]},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        pid = gw.process.pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert "gateway.server.supervisor" in cmdline, "serve replaced itself with the supervisor"
        workers = []
        deadline = time.time() + 20
        while len(workers) < 2 and time.time() < deadline:
            workers = [c for c in _children(pid) if _environ(c)]
            time.sleep(0.2)
        assert len(workers) == 2
        # the workers and nothing else (multiprocessing's resource tracker was one more)
        assert all("gateway.server.worker" in _cmd(worker) for worker in workers)
        for process in (pid, *workers):  # watchfiles (uvicorn's --reload) is a Rust library
            assert "watchfiles" not in Path(f"/proc/{process}/maps").read_text()
        socket_path = _environ(workers[0])[TOKENIZER_ENV]
        for worker in workers:
            environ = _environ(worker)
            assert environ[TOKENIZER_ENV] == environ[SOCKET_ENV] == socket_path
            assert environ[UVICORN_WORKER_ENV] == "1"
            assert environ["MALLOC_ARENA_MAX"] == "2"
        assert os.path.exists(socket_path)


def _cmd(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def test_a_temporary_socket_folder_goes_with_the_service(monkeypatch, tmp_path) -> None:
    """A data folder path too long for a Unix socket: the socket lives in a temporary
    folder, removed when the supervisor exits (after the service stops)."""
    from gateway.server import supervisor

    folder = tmp_path / "switchyard-x"
    folder.mkdir()
    at_exit = []
    monkeypatch.setattr(supervisor.atexit, "register", lambda f, *a: at_exit.append((f, a)))
    monkeypatch.setenv(TOKENIZER_ENV, "")
    plan = Plan("", 0, socket=str(folder / "limits.sock"), temp_folder=str(folder))
    assert supervisor.start_service(plan) is None
    assert (folder / "limits.sock").exists()
    for function, args in reversed(at_exit):  # atexit runs last-registered first
        function(*args)
    assert not folder.exists()
