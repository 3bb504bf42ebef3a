"""What a serving process imports before its first request: the modules a deployment
may never use stay out of it until it uses them (each is megabytes of every worker's
memory, docs/benchmarks.md "Memory"). A fresh interpreter does what a worker does at
start (Django set up, the ASGI application, the warm-up), then lists what it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.live import copy_template_database

ROOT = Path(__file__).resolve().parents[2]

# Each is imported by the feature that needs it, when it is first used.
NOT_AT_START = (
    "authlib",  # single sign-on (gateway.features.people.views.sso), the MCP OAuth flows
    "requests",  # Authlib's Django client
    "joserfc",  # ID tokens
    "yaml",  # LiteLLM config import and export
    "jsonschema",  # evaluation scorers, MCP tool arguments
    "rich",  # httpx's command-line client (gateway/__init__.py); click stays: uvicorn's
    "pygments",
    "ninja",  # the management API (gateway/server/settings.py: not an installed app)
    "pydantic",  # ninja's schemas, the MCP SDK's types
    "mcp",  # the MCP SDK: /mcp, hosted MCP tools
    "mcp_types",
    "botocore",  # Bedrock
    "google.auth",  # Vertex AI
    "presidio_analyzer",  # guardrails of that kind
    "spacy",
    "detect_secrets",
    "kubernetes_validate",
    "regex",  # a text longer than a tokenizer piece (gateway.core.token_pieces)
    "websockets",  # a Realtime or Live session's upstream socket (gateway.core.realtime)
    "a2a",  # the A2A SDK: registering an agent reads its card (gateway.features.a2a.save)
    "opentelemetry",  # tracing, once an OTLP endpoint is configured (gateway.telemetry.tracing)
    "redis",  # REDIS_URL's counters and pub/sub
    "tiktoken",  # the tokenizer: the supervisor's counter service hosts it for the workers
    "daphne",  # serve --server daphne
    "twisted",
    "cryptography",  # a sealed provider secret (gateway.base.secrets.crypto); none: never loaded
)

PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
import gateway.server.asgi  # noqa: F401
from gateway.server import warm_up
warm_up.warm_up()
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(probe: str, tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter has after running ``probe``."""
    env = {
        **os.environ,
        "SWITCHYARD_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
    }
    env.pop("DATABASE_URL", None)
    # a database migrated once per test process (the probes' own ``migrate`` is then a
    # check that finds nothing to do: a whole migrate was 20 s of the suite's time)
    copy_template_database(tmp_path, env, seed=False)
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def among(names: tuple[str, ...], loaded: set[str]) -> list[str]:
    """Those of ``names`` loaded, themselves or any of their submodules."""
    return [n for n in names if n in loaded or any(m.startswith(n + ".") for m in loaded)]


# The console's sockets' consumers (the log tail, the playground, an experiment's
# progress) load when the first is opened (gateway.server.asgi.console_sockets).
CONSOLE_SOCKETS = ("console.routing", "console.tail", "console.playground", "console.evals.live")


def test_a_worker_starts_without_the_features_it_has_not_used(tmp_path: Path) -> None:
    loaded = loaded_by(PROBE, tmp_path)
    assert among(NOT_AT_START, loaded) == [], "imported at start"
    assert among(CONSOLE_SOCKETS, loaded) == [], "the console's sockets imported at start"
    assert "gateway.core.service" in loaded  # the probe did load the request stack


# What the first console or management API page loads (the URL conf: every view module)
# leaves out: the MCP SDK and Authlib load with the OAuth pages that use them.
NOT_WITH_THE_URLS = ("authlib", "joserfc", "cryptography.hazmat.primitives.asymmetric.ec", "mcp")

URLS_PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
import gateway.server.asgi  # noqa: F401
from django.urls import URLResolver, get_resolver
for pattern in get_resolver().url_patterns:  # the included ones too (the console's: lazy)
    if isinstance(pattern, URLResolver):
        pattern.url_patterns
print(json.dumps(sorted(sys.modules)))
"""


def test_the_url_conf_leaves_the_oauth_libraries_to_their_pages(tmp_path: Path) -> None:
    loaded = loaded_by(URLS_PROBE, tmp_path)
    assert among(NOT_WITH_THE_URLS, loaded) == [], "imported with the URL conf"
    assert (
        "gateway.features.mcp.oauth_server.consent" in loaded and "ninja" in loaded
    )  # the probe did load them


# A worker that has answered only the management API (a deployment configured through it)
# or the health checks: the console's URL conf and views (about 6 MB of a worker) stay
# out until a path reaches them (gateway/server/urls.py).
CONSOLE = ("console.urls", "console.views")

API_PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
import gateway.server.asgi  # noqa: F401
from django.urls import resolve, reverse
for answered in ("/api/keys/", "/api/teams", "/api/no-such-thing/", "/health/liveliness"):
    resolve(answered)
api = sorted(sys.modules)
console = resolve("/").namespace, reverse("console:dashboard")
print(json.dumps([api, console]))
"""


def test_the_management_api_leaves_the_console_to_its_pages(tmp_path: Path) -> None:
    env = {**os.environ, "SWITCHYARD_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    env["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
    done = subprocess.run(
        [sys.executable, "-c", API_PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    api, console = json.loads(done.stdout.strip().splitlines()[-1])
    assert among(CONSOLE, set(api)) == [], "imported by the management API"
    assert "gateway.edge.api.keys" in api  # the probe did load the API
    assert console == ["console", "/"]  # and the console resolves once a path reaches it


# A worker's first management API call (the governed bench's set-up: keys, teams...)
# through the server's own application: the resource it asks for, not the console's
# pages, the admin's URLs (every registered model's, with contenttypes' views), the
# units' own URLs (MCP's OAuth views) or the API's other resources, whose schemas
# were about 10 MB of the worker (gateway.web.api.mounts).
NOT_WITH_ONE_API_CALL = (
    "console.urls",
    "console.views",
    "django.contrib.contenttypes.views",  # imported by the admin's URL conf only
    "gateway.features.mcp.urls",
    "gateway.features.mcp.oauth_server",
    "gateway.edge.api.routes",
    "gateway.edge.api.logs",
    "gateway.features.people.api",
    "console.evals.api",
)

FIRST_API_CALL_PROBE = """
import asyncio, json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
os.environ["SWITCHYARD_MASTER_KEY"] = "sy-probe-master-key-0123456789abcdef"
import django
django.setup()
from gateway.server import asgi, warm_up
warm_up.warm_up()
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
         "scheme": "http", "path": "/api/keys/", "raw_path": b"/api/keys/", "query_string": b"",
         "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
         "headers": [(b"host", b"127.0.0.1"),
                     (b"authorization", b"Bearer sy-probe-master-key-0123456789abcdef")]}
sent, bodies = [], [{"type": "http.request", "body": b"", "more_body": False}]
async def receive():  # the body, then nothing until the answer is sent
    return bodies.pop() if bodies else await asyncio.Future()
async def send(message):
    sent.append(message)
asyncio.run(asgi.application(scope, receive, send))
status = [m["status"] for m in sent if m["type"] == "http.response.start"]
assert status == [200], sent
print(json.dumps(sorted(sys.modules)), flush=True)
os._exit(0)  # the writer's threads
"""


def test_the_first_api_call_loads_its_resource_and_not_the_console_or_the_admin(
    tmp_path: Path,
) -> None:
    loaded = loaded_by(FIRST_API_CALL_PROBE, tmp_path)  # (the probe checks the call's 200)
    assert "gateway.edge.api.keys" in loaded  # by its resource
    assert among(NOT_WITH_ONE_API_CALL, loaded) == [], "imported by one /api call"


# A retention round runs in one worker of every deployment (the journal writer's, each
# hour): what it deletes for the features it does not use must not load them.
PRUNE_PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", "--no-input", verbosity=0)
import gateway.server.asgi  # noqa: F401
from gateway.server import warm_up
warm_up.warm_up()
from datetime import timedelta
from gateway.journal.pruning import prune_round
before = set(sys.modules)  # (migrate loaded the migrations' imports)
prune_round(timedelta(days=30), 10)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_retention_round_loads_none_of_the_features_it_prunes(tmp_path: Path) -> None:
    loaded = loaded_by(PRUNE_PROBE, tmp_path)  # what the round itself loaded
    assert among(NOT_AT_START, loaded) == [], "imported by the retention round"


# A worker's first console page: the console's URL conf (its views and forms, ~280 ms of
# CPU to import) is imported off the event loop (gateway.server.urls.loader_for), not by
# Django's resolve in the loop, where it would stall every request the worker is serving.
FIRST_PAGE_PROBE = """
import asyncio, json, os, sys, threading
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
from gateway.server import asgi, warm_up
warm_up.warm_up()
imported_in = []
class Noting:  # finds nothing itself: notes which thread imports the console's URL conf
    def find_spec(self, name, path=None, target=None):
        if name == "console.urls":
            imported_in.append(threading.current_thread() is threading.main_thread())
        return None
sys.meta_path.insert(0, Noting())
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
         "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"",
         "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
         "headers": [(b"host", b"127.0.0.1")]}
sent, bodies = [], [{"type": "http.request", "body": b"", "more_body": False}]
async def receive():
    return bodies.pop() if bodies else await asyncio.Future()
async def send(message):
    sent.append(message)
asyncio.run(asgi.application(scope, receive, send))
status = [m["status"] for m in sent if m["type"] == "http.response.start"]
print(json.dumps([status, imported_in]), flush=True)
os._exit(0)
"""


def test_the_first_console_page_imports_the_console_off_the_event_loop(tmp_path: Path) -> None:
    env = {**os.environ, "SWITCHYARD_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    env["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
    copy_template_database(tmp_path, env, seed=False)
    done = subprocess.run(
        [sys.executable, "-c", FIRST_PAGE_PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status, in_loop_thread = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == [302]  # the sign-in page: the console answered
    assert in_loop_thread == [False]  # imported once, in a thread


# A worker whose registry holds sealed secrets (every literal api_key of an imported
# LiteLLM config): its snapshot opens them in a child process (crypto.open_ahead), so
# the worker never loads cryptography (about 9 MB of each, #67), and the snapshot holds
# the plaintexts all the same.
SEALING_PROBE = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
from gateway.models import Provider
provider = Provider(name="sealed", kind="openai", base_url="https://u:pw@llm.example/v1")
provider.set_secret("sk-sealed-upstream-key")
provider.set_extra_headers({"X-Key": "header-secret"})
provider.save()
assert provider.secret_ciphertext
print("[]")
"""

SEALED_SNAPSHOT_PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
import gateway.server.asgi  # noqa: F401
from gateway.server import warm_up
warm_up.warm_up()
from gateway.access import registry
entry = registry.rebuild().providers["sealed"]
assert entry.secret == "sk-sealed-upstream-key", entry.secret
assert entry.base_url == "https://u:pw@llm.example/v1", entry.base_url
assert entry.extra_headers == {"X-Key": "header-secret"}, entry.extra_headers
print(json.dumps(sorted(sys.modules)))
"""


def test_a_worker_opens_its_sealed_secrets_without_loading_cryptography(tmp_path: Path) -> None:
    loaded_by(SEALING_PROBE, tmp_path)  # sealed by another process, as import_config does
    loaded = loaded_by(SEALED_SNAPSHOT_PROBE, tmp_path)  # (the probe checks the plaintexts)
    assert "gateway.access.registry" in loaded
    assert among(("cryptography",), loaded) == [], "imported to open the snapshot's secrets"
