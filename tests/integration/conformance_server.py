"""The MCP conformance suite's packages (``tests/fixtures/mcp_conformance``, installed by
``scripts/test.sh``) and its reference ``everything`` server, run for a test module by
the ``everything`` fixture of tests/integration/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "mcp_conformance"
CLI = FIXTURE / "node_modules" / ".bin" / "conformance"
TSX = FIXTURE / "node_modules" / ".bin" / "tsx"

NEEDS_NODE = pytest.mark.skipif(
    shutil.which("node") is None or not CLI.exists() or not TSX.exists(),
    reason="needs Node and tests/fixtures/mcp_conformance's packages (npm ci there)",
)


@contextmanager
def everything_server() -> Iterator[str]:
    """The reference server on a free port: its ``/mcp`` URL, once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [str(TSX), "everything-server.ts"],
        cwd=FIXTURE,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("the everything server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
