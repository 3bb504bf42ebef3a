"""The test agents of ``agents_server.py`` started in their own processes on
127.0.0.1, for as long as a block runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.live import free_port

SCRIPT = Path(__file__).resolve().parent / "agents_server.py"


@contextmanager
def running(*names: str, token: str = "") -> Iterator[dict[str, int]]:
    """Each agent of ``names`` (``echo``, ``slow``) on its own port: {name: port}."""
    ports = {name: free_port() for name in names}
    extra = ["--token", token] if token else []
    processes = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), name, str(port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, port in ports.items()
    ]
    try:
        for name, port in ports.items():
            card = f"http://127.0.0.1:{port}/{name}/.well-known/agent-card.json"
            deadline = time.monotonic() + 30
            while True:
                try:  # its own card: another server may have taken the port first
                    reply = httpx.get(card, timeout=0.5)
                    if reply.status_code == 200 and "name" in reply.json():
                        break
                    assert time.monotonic() < deadline, f"port {port} answers, not {name}"
                    time.sleep(0.1)
                except (httpx.HTTPError, ValueError):
                    assert time.monotonic() < deadline, f"the {name} agent did not start"
                    time.sleep(0.1)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
