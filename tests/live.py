"""Start a real Switchyard server (``manage.py serve``) in a subprocess for end-to-end
tests: its own data folder (SQLite file, secret key), a free port, and helpers to run
management commands against the same database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "sy-test-master-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a management command against this server's database."""
        return manage(self.env, *args, check=check)

    def shell(self, code: str) -> str:
        """Run Python in ``manage.py shell`` against this server's database."""
        return self.manage("shell", "-c", code).stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def gateway_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_MASTER_KEY": MASTER_KEY,
        "DJANGO_SETTINGS_MODULE": "gateway.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(extra or {})
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
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


def wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/health/liveliness", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not come up in {timeout}s:\n{log_path.read_text()}")


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
    manage(full_env, "migrate", "--no-input", "-v", "0")
    if seed:
        manage(full_env, "seed_demo")
    for command in setup or []:
        manage(full_env, *command)
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
    try:
        wait_until_up(url, process, log_path)
        yield Gateway(url=url, data_dir=data_dir, env=full_env, process=process, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
