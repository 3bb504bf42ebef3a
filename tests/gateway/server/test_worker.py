"""One worker process of ``serve --workers N``: it imports neither uvicorn's nor httpx's
command lines (nor uvicorn's supervisors) before it serves, and the uvicorn it loads
still gives ``Config`` and ``Server``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

from gateway.server.supervisor import UVICORN_WORKER_ENV, worker_command

ROOT = Path(__file__).resolve().parents[3]


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


def test_a_worker_defers_what_django_imports_for_scripts_and_test_databases(tmp_path) -> None:
    """sqlparse and multiprocessing, which Django's database backends import at their top,
    stay unloaded in a worker that has loaded its application and queried its database
    (#67), and still do their work when asked."""
    code = """
import sys, types
from gateway.server import worker
worker.prepare()
from gateway.server.uvicorn_server import worker_config
worker_config("gateway.server.asgi:application", {"lifespan": "on"}).load()
from django.contrib.auth.models import User
from django.db import connection
User.objects.count()
print(sorted(m for m in sys.modules if m.split(".")[0] in worker.DEFERRED
             and type(sys.modules[m]) is types.ModuleType))
print(connection.ops.prepare_sql_script("select 1; select 2;"))
from django.db.backends.sqlite3 import creation  # what clones test databases
print(creation.multiprocessing.get_start_method() in ("fork", "spawn", "forkserver"))
print(sorted(m for m in sys.modules if m.split(".")[0] in worker.DEFERRED
             and type(sys.modules[m]) is types.ModuleType))
"""
    argv = worker_command({})
    code = argv[2].replace("from gateway.server.worker import main; main()", "") + code
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL"))}
    env.update({UVICORN_WORKER_ENV: "1", "SWITCHYARD_DATA_DIR": str(tmp_path)})
    env["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
    subprocess.run(
        [argv[0], str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True, timeout=300
    )
    result = subprocess.run(
        [argv[0], "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-4:]
    assert lines[:3] == ["[]", "['select 1;', 'select 2;']", "True"]
    assert "sqlparse" in lines[3] and "multiprocessing" in lines[3]


def test_a_deferred_module_loads_once_on_first_use_from_any_thread(monkeypatch, tmp_path) -> None:
    from gateway.server import worker

    (tmp_path / "slowpkg").mkdir()
    (tmp_path / "slowpkg" / "__init__.py").write_text(
        "import time\nruns = []\nruns.append(1)\ntime.sleep(0.2)\nVALUE = 42\nfrom . import part\n"
    )
    (tmp_path / "slowpkg" / "part.py").write_text("PART = 'p'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("slowpkg", "slowpkg.part"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    worker.defer("slowpkg")
    worker.defer("no_such_module_anywhere")
    assert "no_such_module_anywhere" not in sys.modules
    import slowpkg  # noqa: F401 (the import itself runs nothing)

    assert "runs" not in vars(sys.modules["slowpkg"])
    seen: list[int] = []
    threads = [
        threading.Thread(target=lambda: seen.append(sys.modules["slowpkg"].VALUE)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    from slowpkg import part, runs

    assert seen == [42] * 4 and runs == [1] and part.PART == "p"
    assert type(sys.modules["slowpkg"]) is types.ModuleType


def test_a_deferred_modules_functions_imported_at_a_top_load_it_when_called(
    monkeypatch, tmp_path
) -> None:
    from gateway.server import worker

    (tmp_path / "mailish.py").write_text(
        "runs = []\nruns.append(1)\ndef send(x):\n    return x * 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mailish", raising=False)
    worker.defer("mailish", ("send",))
    from mailish import send  # a stand-in: the module's code has not run

    assert "runs" not in vars(sys.modules["mailish"])
    assert send.__name__ == "send" and send(21) == 42  # the call loads it, then calls its own
    from mailish import runs
    from mailish import send as own

    assert runs == [1] and own is not send and own(2) == 4
    assert type(sys.modules["mailish"]) is types.ModuleType


# A worker as ``serve`` starts it (``worker.prepare``, the application loaded, the warm-up),
# with ``ask(path)``: the path's status and body through the application, as the master key.
STARTED_WORKER = """
import asyncio, json, os, sys, types
from gateway.server import worker
worker.prepare()
from gateway.server.uvicorn_server import worker_config
worker_config("gateway.server.asgi:application", {"lifespan": "on"}).load()
from gateway.server import asgi, warm_up
warm_up.warm_up()
def ask(path):
    key = os.environ["SWITCHYARD_MASTER_KEY"].encode()
    scope = dict(type="http", asgi={"version": "3.0"}, http_version="1.1", method="GET",
                 scheme="http", path=path, raw_path=path.encode(), query_string=b"",
                 root_path="", client=("127.0.0.1", 1), server=("127.0.0.1", 80),
                 headers=[(b"host", b"127.0.0.1"), (b"authorization", b"Bearer " + key)])
    messages, request = [], {"type": "http.request", "body": b"", "more_body": False}
    async def receive():  # the request, then nothing until the answer is sent
        if request.pop("type", None):
            return {"type": "http.request", **request}
        return await asyncio.Future()
    async def send(message):
        messages.append(message)
    asyncio.run(asgi.application(scope, receive, send))
    status = [m["status"] for m in messages if m["type"] == "http.response.start"]
    return status, b"".join(m.get("body", b"") for m in messages if "body" in m)
def loaded(*names):  # those of ``names`` loaded (not deferred), with their submodules
    return sorted(m for m in sys.modules if m.split(".")[0] in names or m in names
                  if type(sys.modules[m]) is types.ModuleType)
"""


def in_a_started_worker(code: str, tmp_path: Path) -> list[str]:
    """The lines ``code`` prints in a started worker (``STARTED_WORKER``) on a migrated
    database; the code ends with ``os._exit(0)`` (the journal writer's threads)."""
    from tests.live import copy_template_database

    argv = worker_command({})
    prelude = argv[2].replace("from gateway.server.worker import main; main()", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL"))}
    env.update({UVICORN_WORKER_ENV: "1", "SWITCHYARD_DATA_DIR": str(tmp_path)})
    env.update({"SWITCHYARD_MASTER_KEY": "sy-probe-master-key-0123456789abcdef"})
    env.update({"DJANGO_SETTINGS_MODULE": "gateway.server.settings", "PYTHONPATH": str(ROOT)})
    copy_template_database(tmp_path, env, seed=False)
    result = subprocess.run(
        [argv[0], "-c", prelude + STARTED_WORKER + code],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


# Django's mail and management command packages and its debug views, which its logging,
# exception handler, auth and common middleware import at their top, stay unloaded in a
# worker that has started and answered requests (#67: about 1.5 MB of each), and work
# when used.
DJANGO_CODE = """
for path in ("/v1/models", "/health/liveliness"):
    ask(path)
print(loaded("django.core.mail", "django.core.management", "email.policy", "argparse",
             "django.views.debug"))
from django.conf import settings
settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
from gateway.base import mail
mail.send_now(["ops@example.com"], "subject", "body")
from django.core import mail as django_mail
print(len(django_mail.outbox), django_mail.outbox[0].to)
from django.core.management import get_commands
from django.utils.log import AdminEmailHandler  # its error report: the debug views' reporter
report = AdminEmailHandler().reporter_class(None, ValueError, ValueError("boom"), None)
print("migrate" in get_commands() and "ValueError" in report.get_traceback_text())
os._exit(0)
"""


def test_a_worker_defers_djangos_mail_commands_and_debug_views_until_used(tmp_path) -> None:
    lines = in_a_started_worker(DJANGO_CODE, tmp_path)
    assert lines[-3:] == ["[]", "1 ['ops@example.com']", "True"]


# A started worker leaves the management API's stack out until an /api request asks for
# it, then answers it; Django's test package, which django-ninja's settings reach for one
# signal, stays unloaded (#67: 3.7 MB of every worker that has answered /api) and loads
# when used.
API_CODE = """
started = loaded("ninja", "pydantic", "pydantic_core")
v1 = ask("/v1/models")[0]
after_v1 = loaded("ninja", "pydantic", "pydantic_core")
keys_status, keys = ask("/api/keys/")
schema_status, schema = ask("/api/openapi.json")
api = loaded("ninja", "pydantic_core")
test_package = loaded("unittest", "jinja2", "django.test")
from django.test import Client, signals
print(json.dumps([started, v1, after_v1, keys_status, json.loads(keys), schema_status,
                  "/api/keys/" in json.loads(schema)["paths"], bool(api), test_package,
                  Client.__name__, type(sys.modules["django.test"]).__name__]))
os._exit(0)
"""


def test_a_worker_loads_the_management_api_on_the_first_api_request(tmp_path) -> None:
    found = json.loads(in_a_started_worker(API_CODE, tmp_path)[-1])
    started, v1, after_v1, keys_status, keys, schema, keys_documented, api = found[:8]
    test_package, client, kind = found[8:]
    assert started == [] and v1 == [200] and after_v1 == []  # /v1 never loads it
    assert keys_status == [200] and isinstance(keys, list)  # /api answers, authorized
    assert schema == [200] and keys_documented and api  # the OpenAPI document too
    assert test_package == []  # ninja's settings took their signal without the package
    assert client == "Client" and kind == "module"  # which loads when it is used
