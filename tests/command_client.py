"""The test side of ``tests/command_server.py``: one such process per server
environment, asked for one management command at a time."""

from __future__ import annotations

import atexit
import json
import select
import subprocess
import sys
import threading
import weakref
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# files the settings read from the data folder when the environment does not say
# (``gateway/server/settings.py``): a server started before one appeared is stale
_SETTINGS_FILES = ("master_key", "secret_key")
_alive: weakref.WeakSet[CommandServer] = weakref.WeakSet()


def _fingerprint(env: dict[str, str]) -> tuple[object, ...]:
    data_dir = Path(env.get("SWITCHYARD_DATA_DIR", "."))
    present = tuple((data_dir / name).exists() for name in _SETTINGS_FILES)
    return (tuple(sorted(env.items())), present)


class CommandServer:
    """Starts ``python -m tests.command_server`` with ``env``; ``run`` answers None when
    it could not start (a setting Django refuses, a thread at set-up), and the caller
    then runs ``manage.py`` as a process of its own."""

    def __init__(self, env: dict[str, str]) -> None:
        self.fingerprint = _fingerprint(env)
        self.lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-m", "tests.command_server"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        _alive.add(self)
        if not self._reply(timeout=120).get("ready"):
            self.close()
        self.fingerprint = _fingerprint(env)  # after set-up, which may write the secret key

    def serves(self, env: dict[str, str]) -> bool:
        return self.process is not None and self.fingerprint == _fingerprint(env)

    def _reply(self, timeout: float) -> dict[str, object]:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        return json.loads(line) if line else {}

    def run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str] | None:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                return None
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"args": args}) + "\n")
            self.process.stdin.flush()
            reply = self._reply(timeout)
            if not reply:
                self.close()
                raise subprocess.TimeoutExpired(["manage.py", *args], timeout)
            code, out, err = reply["returncode"], reply["stdout"], reply["stderr"]
            assert isinstance(code, int) and isinstance(out, str) and isinstance(err, str)
            return subprocess.CompletedProcess(["manage.py", *args], code, out, err)

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


@atexit.register
def _close_all() -> None:
    for server in list(_alive):
        server.close()
