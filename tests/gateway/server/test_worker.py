"""One worker process of ``serve --workers N``: it imports neither uvicorn's nor httpx's
command lines (nor uvicorn's supervisors) before it serves, and the uvicorn it loads
still gives ``Config`` and ``Server``."""

from __future__ import annotations

import os
import subprocess
import sys

from gateway.server.supervisor import UVICORN_WORKER_ENV, worker_command


def test_a_worker_loads_neither_the_command_lines_nor_uvicorns_supervisors(tmp_path) -> None:
    """What a worker imports before it serves (``gateway.server.worker``, the configuration
    loading the application, uvicorn's protocols and lifespan): not uvicorn's command
    line and supervisors (click, multiprocessing's spawning, watchfiles), nor httpx's
    command line (click, pygments)."""
    argv = worker_command({})
    code = argv[2].replace("from gateway.server.worker import main; main()", "")
    code += """
import sys
from gateway.server import worker
worker.prepare()
from gateway.server.uvicorn_server import worker_config
config = worker_config("gateway.server.asgi:application", {"lifespan": "on", "loop": "uvloop",
                                                     "http": "httptools"})
config.load()
import uvicorn
assert uvicorn.Config is type(config) and config.lifespan_class.__module__ == "uvicorn.lifespan.on"
import gateway.core.service, httpx  # the upstream client
assert httpx.Client and callable(httpx.main)
print(sorted(m for m in sys.modules if m.startswith(("watchfiles", "uvicorn.supervisors",
      "uvicorn.main", "uvicorn._subprocess", "multiprocessing.popen", "multiprocessing.spawn",
      "click", "pygments"))))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL"))}
    env.update({UVICORN_WORKER_ENV: "1", "SWITCHYARD_DATA_DIR": str(tmp_path)})
    env["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
    result = subprocess.run(
        [argv[0], "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_uvicorn_already_imported_is_left_as_it_is(monkeypatch) -> None:
    from gateway.server import worker

    marker = object()
    monkeypatch.setitem(sys.modules, "uvicorn", marker)
    worker.load_uvicorn_server()
    assert sys.modules["uvicorn"] is marker


def test_the_spec_is_read_as_json_and_served(monkeypatch) -> None:
    from gateway.server import uvicorn_server, worker

    served = []
    monkeypatch.setattr(worker, "prepare", lambda: served.append("prepared"))
    monkeypatch.setattr(uvicorn_server, "serve_worker", served.append)
    worker.main(['{"port": 8123, "fd": 4}'])
    assert served == ["prepared", {"port": 8123, "fd": 4}]
