"""Start a real Switchyard server (``manage.py serve``) in a subprocess for end-to-end
tests: its own data folder (SQLite file, secret key), a free port, and helpers to run
management commands against the same database."""

from __future__ import annotations

import atexit
import gc
import itertools
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.command_client import CommandServer

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "sy-test-master-key"


# Ports for the servers tests start in other processes: below the kernel's ephemeral
# range (32768-60999), a block for each xdist worker, handed out in turn from a random
# start. A port that bind(0) found free was free only until the next bind(0), so another
# worker's server (or an in-process mock's) could take it before the child bound it, and
# a test met a stranger there ("port 39867 answers, not guarded").
PORTS_FROM, PORTS_PER_WORKER, WORKER_BLOCKS = 20_000, 2_000, 6
_next_port = itertools.count(random.randrange(PORTS_PER_WORKER))


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    block = PORTS_FROM + (int(worker) if worker.isdigit() else 0) % WORKER_BLOCKS * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = block + next(_next_port) % PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use, or its last connections still closing
                continue
            return port
    raise RuntimeError(f"no free port from {block} to {block + PORTS_PER_WORKER}")


@dataclass
class Gateway:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path

    @property
    def master_key(self) -> str:
        return self.env["SWITCHYARD_MASTER_KEY"]

    commands: CommandServer | None = field(default=None, repr=False, compare=False)

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a management command against this server's database (in a child forked
        from a process that started Django once: ``tests/command_server.py``)."""
        self.journal_written()
        if self.commands is None or not self.commands.serves(self.env):
            if self.commands is not None:
                self.commands.close()
            self.commands = CommandServer(self.env)
        return manage(self.env, *args, check=check, commands=self.commands)

    def journal_written(self, timeout: float = 10) -> None:
        """Wait until the server has written the journal records it queued (its
        ``switchyard_journal_queue_depth`` is 0), so a command reads the rows of the
        requests answered before it: the journal writes off the request path, and a
        forked command answers in a tenth of a second where a ``manage.py`` start took
        seconds and hid that. A server that is down has nothing to wait for."""
        if self.process.poll() is not None:
            return
        deadline = time.monotonic() + timeout
        time.sleep(0.05)  # a record is queued just after its answer's last byte
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"{self.url}/metrics", timeout=2).text
            except httpx.HTTPError:
                return
            depth = re.search(r"^switchyard_journal_queue_depth (\S+)$", text, re.M)
            if depth is None or float(depth.group(1)) == 0:
                return
            time.sleep(0.05)

    def shell(self, code: str) -> str:
        """Run Python in ``manage.py shell`` against this server's database."""
        return self.manage("shell", "-c", code).stdout

    def shell_until(self, code: str, holds: Callable[[str], bool], timeout: float = 15) -> str:
        """``shell(code)`` again until its output ``holds`` (or ``timeout`` passes): the
        journal writes off the request path, so a row lands a moment after its answer."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.shell(code)
            if holds(out) or time.monotonic() > deadline:
                return out
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def gateway_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_MASTER_KEY": MASTER_KEY,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(extra or {})
    return env


def manage(
    env: dict[str, str], *args: str, check: bool = True, commands: CommandServer | None = None
) -> subprocess.CompletedProcess:
    """``manage.py *args`` with ``env``: by ``commands`` where given and able (a child
    forked from its one Django start), else in a process of its own."""
    result = commands.run(list(args)) if commands is not None else None
    if result is None:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    if check and result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 90) -> None:
    """Poll the liveliness probe until it answers (the ceiling only matters on a loaded
    machine: two test processes each starting servers and browsers on 2 cores). One
    client for all the polls: a new one loads the CA bundle, ~40 ms of CPU a poll taken
    from the server that is starting."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}:\n{log_path.read_text()}"
                )
            try:
                if client.get(url + "/health/liveliness").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server did not come up in {timeout}s:\n{log_path.read_text()}")


def wait_for_workers(
    folder: Path, workers: int, process: subprocess.Popen, log_path: Path, timeout: float = 90
) -> None:
    """Until every worker serves: the gateway answers once one does, and a test that
    spreads connections over the workers would otherwise find them all on the first
    while the others start (seconds on the loaded CI machine). A worker publishes its
    /metrics file (``folder``, emptied by ``serve``) once its start-up is done."""
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("*.json"))) < workers:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every worker started in {timeout}s:\n{log_path.read_text()}")
        time.sleep(0.05)


SQLITE_NAME = "switchyard.sqlite3"
_templates: dict[tuple, Path] = {}
_templates_lock = threading.Lock()
_templates_root: Path | None = None
# DATABASE_URLs of PostgreSQL databases copied from a migrated template
# (tests/integration/services.py): a gateway on one skips its migrate, which would find
# nothing to do (~3 s of a Django start on the 2-core CI machine)
MIGRATED_DATABASES: set[str] = set()


def _template_key(env: dict[str, str], seed: bool) -> tuple | None:
    """What a migrated (and seeded) SQLite database depends on, or None when a server
    must build its own: on PostgreSQL, or when ``seed_demo`` would generate a master key
    into the data folder (each server then has its own)."""
    if env.get("DATABASE_URL"):
        return None
    if not seed:
        return ("migrated",)
    if not env.get("SWITCHYARD_MASTER_KEY"):
        return None
    return (
        "seeded",
        env.get("SWITCHYARD_ADMIN_USER", ""),
        env.get("SWITCHYARD_ADMIN_PASSWORD", ""),
    )


def _remove_templates() -> None:
    if _templates_root is not None:
        shutil.rmtree(_templates_root, ignore_errors=True)


def template_database(env: dict[str, str], seed: bool) -> Path | None:
    """A data folder migrated (and seeded) once per test process for servers alike in
    ``_template_key``: ``migrate`` and ``seed_demo`` cost a Django start each (~5 s on
    the 2-core CI machine), and dozens of live test modules start a server."""
    global _templates_root
    key = _template_key(env, seed)
    if key is None:
        return None
    with _templates_lock:
        if key in _templates:
            return _templates[key]
        if _templates_root is None:
            _templates_root = Path(tempfile.mkdtemp(prefix="switchyard-db-templates-"))
            atexit.register(_remove_templates)
        folder = _templates_root / str(len(_templates))
        folder.mkdir()
        template_env = {**env, "SWITCHYARD_DATA_DIR": str(folder)}
        template_env.pop("SECRET_KEY", None)
        manage(template_env, "migrate", "--no-input", "--skip-checks", "-v", "0")
        if seed:
            manage(template_env, "seed_demo")
        _templates[key] = folder
        return folder


def copy_template_database(data_dir: Path, env: dict[str, str], seed: bool) -> bool:
    """Give ``data_dir`` a copy of the template database (not its secret key: each
    server generates its own, as after a migrate of its own). False when the folder
    already has a database (a restart on the same data) or no template fits."""
    if (data_dir / SQLITE_NAME).exists():
        return False
    template = template_database(env, seed)
    if template is None:
        return False
    for path in template.iterdir():
        if path.is_file() and path.name != "secret_key":
            shutil.copyfile(path, data_dir / path.name)
            os.chmod(data_dir / path.name, 0o600)
    return True


def _applied_migrations(database: Path) -> set[tuple[str, str]]:
    with closing(sqlite3.connect(database)) as connection:
        return set(connection.execute("SELECT app, name FROM django_migrations").fetchall())


def already_migrated(data_dir: Path, env: dict[str, str]) -> bool:
    """Whether ``data_dir``'s SQLite database (a restart on a data folder a server of
    this run used) has every migration a template of this run has: its ``migrate``
    would find nothing to do, and costs a Django start (~1 s of CPU, 2-3 s of wall
    time on the suite's loaded 2-core machine)."""
    database = data_dir / SQLITE_NAME
    if env.get("DATABASE_URL") or not database.exists():
        return False
    with _templates_lock:
        templates = list(_templates.values())
    if not templates:
        return False
    try:
        return _applied_migrations(database) == _applied_migrations(templates[0] / SQLITE_NAME)
    except sqlite3.Error:  # not a database a server of this run left: let migrate say
        return False


@contextmanager
def running_gateway(
    data_dir: Path,
    env: dict[str, str] | None = None,
    setup: list[list[str]] | None = None,
    seed: bool = True,
    workers: int = 1,
) -> Iterator[Gateway]:
    """Migrate, optionally seed the demo routes and run ``setup`` commands, then serve
    on a free port until the block ends (SIGTERM, then wait)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = gateway_env(data_dir, env)
    if not copy_template_database(data_dir, full_env, seed):
        migrated = full_env.get("DATABASE_URL") in MIGRATED_DATABASES
        if not migrated and not already_migrated(data_dir, full_env):
            manage(full_env, "migrate", "--no-input", "--skip-checks", "-v", "0")
        if seed:
            manage(full_env, "seed_demo")
    commands = CommandServer(full_env) if setup else None  # kept for the Gateway's own
    for command in setup or []:
        manage(full_env, *command, commands=commands)
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "serve",
                "--port",
                str(port),
                "--no-migrate",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    gateway = Gateway(
        url=url,
        data_dir=data_dir,
        env=full_env,
        process=process,
        log_path=log_path,
        commands=commands,
    )
    try:
        wait_until_up(url, process, log_path)
        if workers > 1:
            wait_for_workers(data_dir / "metrics", workers, process, log_path)
        yield gateway
    finally:
        if gateway.commands is not None:
            gateway.commands.close()
        gc.collect()  # (clients the tests let go close their kept-alive connections now)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
