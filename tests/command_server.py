"""Management commands against a test server's database without a Django start each.

``Gateway.manage`` and ``Gateway.shell`` (``tests/live.py``) used to start
``manage.py`` anew for every call: about 0.8 s of CPU and 2-7 s of wall time on the
2-core CI machine, for a ``shell -c`` that reads one row, and live tests poll the
journal that way. This process starts Django once for one server's environment, then
forks a child per command: the child is the state a fresh ``manage.py`` reaches after
``django.setup()``, runs the command as ``manage.py`` would and exits, so nothing one
command does (a cache filled, a module patched, a connection opened) is seen by the
next, as before.

Protocol on stdin/stdout, one JSON line each way: ``{"args": [...]}`` in,
``{"returncode": n, "stdout": "...", "stderr": "..."}`` out. The parent answers
``{"ready": true}`` once set up, or exits (the caller then starts ``manage.py`` as
before)."""

from __future__ import annotations

import atexit
import json
import os
import sys
import tempfile
import threading
import traceback


def _run_in_child(args: list[str], out_path: str, err_path: str) -> None:
    """In the forked child: point fds 0-2 away from the protocol pipes, run the
    command as ``manage.py``'s ``main`` does, and exit with its status."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(os.open(out_path, os.O_WRONLY | os.O_TRUNC), 1)
    os.dup2(os.open(err_path, os.O_WRONLY | os.O_TRUNC), 2)
    sys.argv = ["manage.py", *args]
    status = 0
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line

        try:
            execute_from_command_line(sys.argv)
        except ImproperlyConfigured as exc:
            sys.stderr.write(f"configuration error: {exc}\n")
            status = 1
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            sys.stderr.write(f"{exc.code}\n")
    except BaseException:  # noqa: BLE001  (a command's crash is its output, as in a process)
        traceback.print_exc()
        status = 1
    try:  # what an interpreter does on its way out: non-daemon threads, then atexit
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _answer(reply: dict[str, object]) -> None:
    sys.__stdout__.write(json.dumps(reply) + "\n")  # type: ignore[union-attr]
    sys.__stdout__.flush()  # type: ignore[union-attr]


def serve() -> None:
    import django
    from django.db import connections

    django.setup()
    connections.close_all()
    if threading.active_count() != 1:  # a fork would copy a thread's locks mid-use
        sys.exit(3)
    _answer({"ready": True})
    scratch = tempfile.mkdtemp(prefix="switchyard-commands-")
    out_path, err_path = os.path.join(scratch, "out"), os.path.join(scratch, "err")
    for line in sys.stdin:
        args = json.loads(line)["args"]
        for path in (out_path, err_path):
            open(path, "w").close()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_in_child(args, out_path, err_path)
        _, status = os.waitpid(pid, 0)
        with open(out_path, errors="replace") as out, open(err_path, errors="replace") as err:
            _answer(
                {
                    "returncode": os.waitstatus_to_exitcode(status),
                    "stdout": out.read(),
                    "stderr": err.read(),
                }
            )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
    serve()
