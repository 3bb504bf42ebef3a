"""The parent process of ``manage.py serve --workers N``, without Django.

``serve`` migrates, collects static files and decides everything that needs the
settings, then replaces itself (``exec``, same process id) with this module: the
process that stays for the server's lifetime only supervises the uvicorn workers and
hosts the counter service (exact key limits across workers, ``gateway.counter_service``)
and the workers' one tokenizer (``gateway.shared_tokenizer``). Loading Django there cost
about 110 MB that served no request.

    python -c 'from gateway.supervisor import main; main()' '<plan as JSON>'

The plan (``Plan``) is what ``serve`` decided: uvicorn's options, the socket to serve
on and whether the workers share key counters through it (not with Redis).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

# Set for the workers: they leave daphne's app out (``gateway.settings``).
UVICORN_WORKER_ENV = "SWITCHYARD_UVICORN_WORKER"


@dataclass
class Plan:
    app: str
    workers: int
    options: dict[str, Any] = field(default_factory=dict)
    socket: str = ""  # the service's Unix socket ("" for none)
    share_limits: bool = False  # the workers count keys' limits through the service
    temp_folder: str = ""  # made for the socket (a data folder path too long): removed at exit

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def command(plan: Plan) -> list[str]:
    """The argv that runs ``plan`` in a fresh interpreter, finding this source tree
    whatever the working directory (the workers inherit its ``sys.path``)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = f"import sys; sys.path.insert(0, {root!r}); from gateway.supervisor import main; main()"
    return [sys.executable, "-c", code, plan.to_json()]


def start_service(plan: Plan) -> str | None:
    """Listen on ``plan.socket`` and tell the workers (through the environment they
    inherit) what to use it for. Returns why it could not (the workers then count keys
    and tokens on their own) or None."""
    from . import tokens
    from .counter_service import SOCKET_ENV, CounterService
    from .shared_tokenizer import TOKENIZER_ENV, TokenizerHost

    service = CounterService(plan.socket, tokenizer=TokenizerHost(tokens._load_encoder))
    if plan.temp_folder:
        atexit.register(_remove_folder, plan.temp_folder)  # runs after service.stop
    try:
        service.start()
    except RuntimeError as exc:
        return str(exc)
    atexit.register(service.stop)
    os.environ[TOKENIZER_ENV] = plan.socket
    if plan.share_limits:
        os.environ[SOCKET_ENV] = plan.socket
    return None


def _remove_folder(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def skip_resource_tracker() -> None:
    """Start no multiprocessing resource tracker (a 13 MB process for the server's
    lifetime): uvicorn spawns its workers with multiprocessing, which starts one to
    unlink the named semaphores and shared memory that dead processes leak, and the
    server creates none (uvicorn talks to its workers over pipes). The tracker's
    liveness probe is a write to its pipe: /dev/null passes it, so none is started."""
    try:
        from multiprocessing import resource_tracker

        tracker = resource_tracker._resource_tracker
        if getattr(tracker, "_fd", 0) is None:
            tracker._fd = os.open(os.devnull, os.O_WRONLY)
    except Exception:  # another Python's internals: the tracker runs, as it used to
        pass


def run(plan: Plan) -> None:
    from . import uvicorn_server

    if plan.socket:
        problem = start_service(plan)
        if problem is not None:
            print(f"note: no shared counters or tokenizer ({problem})", file=sys.stderr)
    os.environ[UVICORN_WORKER_ENV] = "1"
    skip_resource_tracker()
    uvicorn_server.run(plan.app, workers=plan.workers, **plan.options)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    run(Plan(**json.loads(args[0])))
