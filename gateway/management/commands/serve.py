"""``manage.py serve``: migrate, then serve the whole ASGI application (API, console,
WebSockets; ``--role`` serves a part of it: ``gateway.base.process_role``) with uvicorn worker processes under ``gateway.server.supervisor``, one worker or
many: the same server path (body caps, header timeout, drain, SIGHUP reload, the
counter service) whatever the count. ``--server daphne`` keeps daphne, one process,
for development (``runserver`` uses it too)."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser

from gateway.apps import counter_books
from gateway.base import db_work, lifecycle, process_role
from gateway.management.base import GatewayCommand
from gateway.server import uvicorn_server
from gateway.server.asgi import application
from gateway.server.supervisor import Plan
from gateway.server.supervisor import command as supervisor_command

ROLE_BANNER: dict[str, str] = {
    "all": "console at /",
    "api": "role api: /v1 and the other inference paths",
    "console": "role console: console at /, /api",
    "worker": "role worker: background work, probes and /metrics only",
}


class Command(GatewayCommand):
    help = "Apply migrations and serve Switchyard (API + console) on HOST:PORT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("SWITCHYARD_HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("SWITCHYARD_PORT", "4000"))
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("SWITCHYARD_WORKERS", "1")),
            help="uvicorn worker processes sharing the port (1 on a one-core machine)",
        )
        parser.add_argument(
            "--server",
            choices=("auto", "uvicorn", "daphne"),
            default=os.environ.get("SWITCHYARD_SERVER", "auto"),
            help="auto / uvicorn: uvicorn workers (uvloop + httptools) under the supervisor; "
            "daphne: one daphne process, for development",
        )
        parser.add_argument("--no-migrate", action="store_true")
        parser.add_argument(
            "--role",
            choices=process_role.ROLES,
            default=os.environ.get(process_role.ENV_NAME) or "all",
            help="what this server does (gateway.base.process_role): api serves /v1 and the "
            "other inference paths, console the console and /api, worker runs the "
            "background work (batches, evaluations, retention) and serves no traffic; "
            "all (the default) does everything. Every role serves /health* and /metrics.",
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        workers: int,
        server: str,
        no_migrate: bool,
        role: process_role.Role = "all",
        **options: Any,
    ) -> None:
        _check_port(host, port)
        # the worker processes inherit the variable; this one (daphne) reads the setting
        os.environ[process_role.ENV_NAME] = role
        settings.SWITCHYARD_ROLE = role
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"Switchyard serving on http://{host}:{port} ({ROLE_BANNER[role]})")
        self.stdout.flush()
        if server == "daphne":
            self._daphne(host, port)
        else:
            db_work.close_all()  # the workers connect on their own; this one holds none
            self._uvicorn(host, port, max(1, workers))

    def _daphne(self, host: str, port: int) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import defer
        from twisted.web import http as twisted_http

        class GracefulServer(Server):
            """On SIGTERM daphne cancels every request at once. Instead: refuse new API
            requests, let those in flight finish (up to the grace period), end the rest
            in their dialect, and only then drain the journal, so no finished request's
            entry is queued after the last write."""

            def kill_all_applications(self) -> defer.Deferred[Any]:
                waiting = asyncio.ensure_future(lifecycle.drain())  # still listening: 503s
                deferred = defer.Deferred.fromFuture(waiting)
                deferred.addCallback(lambda _: Server.kill_all_applications(self))
                deferred.addBoth(
                    lambda _: defer.Deferred.fromFuture(asyncio.ensure_future(lifecycle.shutdown()))
                )
                return deferred

        # Twisted answers a bare 400 to header blocks over 16 KiB: let the gateway's own
        # cap (SWITCHYARD_MAX_HEADER_BYTES) answer first, with a 431 in the dialect.
        channel = twisted_http.HTTPChannel
        channel.totalHeadersSize = max(
            channel.totalHeadersSize, 2 * settings.SWITCHYARD_MAX_HEADER_BYTES
        )
        GracefulServer(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            http_timeout=None,
            websocket_timeout=86400,
            application_close_timeout=lifecycle.server_timeout_seconds(),
            server_name="switchyard",
            verbosity=0,
        ).run()

    def _uvicorn(self, host: str, port: int, workers: int) -> None:

        options = {
            "host": host,
            "port": port,
            "loop": "uvloop",
            "http": "httptools",
            "lifespan": "on",
            "log_level": "warning",
            "access_log": False,
            "timeout_graceful_shutdown": math.ceil(lifecycle.server_timeout_seconds()),
            "ws_max_size": uvicorn_server.ws_max_size(),
            "header_timeout": settings.SWITCHYARD_HEADER_TIMEOUT_SECONDS,
            "timeout_keep_alive": settings.SWITCHYARD_KEEP_ALIVE_SECONDS,
        }
        _share_metrics(settings.DATA_DIR / "metrics")
        path, folder = _socket_path(settings.DATA_DIR)
        plan = Plan(
            "gateway.server.asgi:application",
            workers,
            options,
            path,
            temp_folder=folder,
            books=list(counter_books()),
        )
        if not settings.REDIS_URL:
            plan.share_limits = True
        if not settings.REDIS_URL and workers > 1:
            self.stderr.write(
                f"note: {workers} workers without REDIS_URL: keys' rpm, tpm and budgets "
                "and deployments' rpm/tpm caps are shared by the workers; cooldowns are "
                "per worker"
            )
        # glibc gives each thread that allocates an arena of its own, which keeps what
        # it freed: two arenas per process (supervisor and workers, who inherit it)
        # measured 253 -> 246 MB for the whole server after the benchmark.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        # The process that stays (gateway.server.supervisor) loads neither Django nor uvicorn:
        # it binds the port and starts the workers (gateway.server.worker) itself.
        self.stdout.flush()
        self.stderr.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        argv = supervisor_command(plan)
        os.execv(argv[0], argv)


def _check_port(host: str, port: int) -> None:
    """Fail with one line when HOST:PORT cannot be listened on (daphne would log the
    failure and exit 0, uvicorn exit 3 after starting its workers)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _share_metrics(folder: Path) -> None:
    """Workers publish their /metrics counts into ``folder`` and each serves the sum;
    emptied at start, so counters restart with the server as Prometheus expects."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.*"):
        stale.unlink(missing_ok=True)
    os.environ["SWITCHYARD_METRICS_DIR"] = str(folder)


def _socket_path(data_dir: Path) -> tuple[str, str]:
    """Where the supervisor's counter service will listen: ``limits-PID.sock`` in the
    data folder (the PID stays the supervisor's across ``exec``), after removing those
    that servers killed earlier left behind; a temporary folder when that path is too
    long for a Unix socket (returned second, "" for none)."""
    for stale in data_dir.glob("limits-*.sock"):  # left by a server that was killed
        pid = stale.stem.removeprefix("limits-")
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    path = str(data_dir / f"limits-{os.getpid()}.sock")
    if len(path.encode()) > 100:  # a socket path must fit in sun_path (108 bytes)
        folder = tempfile.mkdtemp(prefix="switchyard-")
        return os.path.join(folder, "limits.sock"), folder
    return path, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
