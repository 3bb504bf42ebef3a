"""Switchyard settings, read from the environment (see README "Configuration").

A fresh clone needs none of them: SQLite in ./data, an in-memory channel layer, and a
SECRET_KEY generated once into ./data/secret_key.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
from dj_database_url import DBConfig
from django.core.exceptions import ImproperlyConfigured

from gateway.base import process_role, sqlite_reuse
from gateway.base.env import env_bool, env_float, env_int, env_list, env_str
from gateway.base.private_files import private_data_dir, private_database
from gateway.base.secrets import families, secret_refs
from gateway.server.supervisor import UVICORN_WORKER_ENV

BASE_DIR = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    """``data/`` beside ``manage.py`` in a source checkout; for an installed package
    (``pip install switchyard-gateway``) the user's data folder, never site-packages."""
    if (BASE_DIR / "manage.py").exists():
        return BASE_DIR / "data"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "switchyard"


DATA_DIR = Path(env_str("SWITCHYARD_DATA_DIR", str(_default_data_dir()))).resolve()
# The data folder 0700 and the SQLite database 0600, whatever the umask (issue #32).
private_data_dir(DATA_DIR, None if env_str("DATABASE_URL") else "switchyard.sqlite3")


def _secret_key() -> str:
    value = env_str("SECRET_KEY")
    if value:
        return value
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _env_allow() -> str:

    try:
        secret_refs.check_allow_setting()
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return secret_refs.allow_setting()


def _sqlite(name: str) -> DBConfig:
    """The one SQLite setup, whether the file is the default one in the data folder or
    one an operator names with ``DATABASE_URL=sqlite:///...`` (the same file must behave
    the same however it is named). Writers queue for the lock, never fail: two workers,
    their journal writers and any manage.py command share this file (tests/integration/
    test_sqlite_writers_live.py). ``timeout``: seconds a statement waits for another
    connection's write lock; IMMEDIATE: a transaction takes the lock at BEGIN, so it
    never has to upgrade a read (which SQLite refuses at once, "database is locked").
    ``factory``: a closed connection is kept for the process's next one to the file
    (``gateway.base.sqlite_reuse``: each new one parsed the schema, ~2 ms of CPU)."""
    if name and name != ":memory:" and not name.startswith("file:"):
        private_database(Path(name))  # 0600 (with its -wal and -shm), whatever the umask
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "factory": sqlite_reuse.connect,
        },
    }


def _env_endpoints() -> str:

    try:
        families.check_endpoints_setting()
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return families.endpoints_setting()


def _database(variable: str = "DATABASE_URL") -> DBConfig:
    url = env_str(variable)
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return _sqlite(str(DATA_DIR / "switchyard.sqlite3"))
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj_database_url raises several kinds
        raise ImproperlyConfigured(f"{variable} is not a valid database URL: {exc}") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"{variable} has an unknown scheme: {url.split(':', 1)[0]!r}")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return _sqlite(str(config.get("NAME") or ""))
    if config["ENGINE"] == "django.db.backends.postgresql":
        pool = _pool_options()
        if pool:  # a pool takes the place of persistent connections (Django requires 0)
            config["CONN_MAX_AGE"] = 0
            config.setdefault("OPTIONS", {})["pool"] = pool
    return config


def _pool_options() -> dict[str, Any] | None:
    """PostgreSQL connections per process: at most SWITCHYARD_DB_POOL_SIZE (0: no pool,
    one persistent connection per thread that queries, as before). Every thread of a
    process (requests, the journal writer, the registry watcher) borrows one for a unit
    of work; the pool checks it before lending it (CONN_HEALTH_CHECKS), so one that died
    with a server restart is replaced, not handed out. docs/production.md "Several instances" sizes it."""
    size = env_int("SWITCHYARD_DB_POOL_SIZE", 2, minimum=0)
    if size == 0:
        return None
    return {
        "min_size": 1,
        "max_size": size,
        # how long a thread waits for a connection (all lent, or the server away)
        "timeout": env_float("SWITCHYARD_DB_POOL_TIMEOUT", 3.0, minimum=0.1),
        # a lost connection is retried with backoff for this long, then left for the
        # next borrower to ask anew: after a long outage the backoff would otherwise
        # keep the pool away from a server that is back for up to half the outage
        "reconnect_timeout": 2.0,
        "max_idle": 300.0,  # connections beyond min_size idle this long are closed
        "name": "switchyard",
    }


def _channel_layers(redis_url: str) -> dict[str, Any]:
    if not redis_url:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    parsed = urlparse(redis_url)
    if parsed.scheme not in ("redis", "rediss", "unix") or not (parsed.hostname or parsed.path):
        raise ImproperlyConfigured(f"REDIS_URL must be a redis:// URL, got {redis_url!r}")
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "switchyard"},
        }
    }


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")


# --- Switchyard ---------------------------------------------------------------------------
def _master_key() -> str:
    """SWITCHYARD_MASTER_KEY, else the one ``seed_demo`` generated into the data folder."""
    value = env_str("SWITCHYARD_MASTER_KEY")
    if value:
        return value
    try:
        return (DATA_DIR / "master_key").read_text().strip()
    except FileNotFoundError:
        return ""


SWITCHYARD_MASTER_KEY = _master_key()
REDIS_URL = env_str("REDIS_URL")


def _role() -> process_role.Role:
    try:
        return process_role.parse(env_str(process_role.ENV_NAME))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


# What this process serves and runs (gateway.base.process_role): api, console, worker or
# all (the quick start). ``serve --role`` sets it for the worker processes it starts.
SWITCHYARD_ROLE = _role()
# --role all: how many of the console's (Django's) requests run at once beside /v1 (0: no
# limit); the other roles are not limited (gateway.edge.console_work)
SWITCHYARD_CONSOLE_WORK_LIMIT = env_int("SWITCHYARD_CONSOLE_WORK_LIMIT", 2, minimum=0)
# The reasoning ledger (gateway.core.reasoning_ledger): signed reasoning kept per tool call
# for clients that cannot carry it back; per worker, shared in Redis when REDIS_URL is
# set, else in the counter service of `serve --workers N`.
SWITCHYARD_REASONING_LEDGER_ENTRIES = env_int(
    "SWITCHYARD_REASONING_LEDGER_ENTRIES", 20000, minimum=0
)
SWITCHYARD_REASONING_LEDGER_BYTES = env_int(
    "SWITCHYARD_REASONING_LEDGER_BYTES", 64 * 1024 * 1024, minimum=0
)
SWITCHYARD_REASONING_LEDGER_TTL = env_int("SWITCHYARD_REASONING_LEDGER_TTL", 6 * 3600, minimum=1)
# Largest request body accepted on /v1 (Claude Code sends images and long histories).
SWITCHYARD_MAX_BODY_BYTES = env_int("SWITCHYARD_MAX_BODY_BYTES", 32 * 1024 * 1024, minimum=1024)
# The longest non-streamed upstream answer read (502 above), and the most text of a
# streamed one folded for the response cache (the relay itself is not capped).
SWITCHYARD_MAX_ANSWER_BYTES = env_int("SWITCHYARD_MAX_ANSWER_BYTES", 64 * 1024 * 1024, minimum=1024)
# Images and documents by URL the gateway fetches for upstreams that take bytes only
# (gateway.core.url_fetch): hosts or CIDRs allowed although private, loopback or link-local
# (comma-separated), the largest body, and the time a fetch may take in all.
SWITCHYARD_URL_FETCH_ALLOW = env_str("SWITCHYARD_URL_FETCH_ALLOW")
SWITCHYARD_URL_FETCH_MAX_BYTES = env_int(
    "SWITCHYARD_URL_FETCH_MAX_BYTES", 20 * 1024 * 1024, minimum=1024
)
# Hosted MCP tools (gateway/features/mcp/hosted): tool calls one request may run, and how long
# an MCP server may take to connect, list its tools or answer one call.
SWITCHYARD_MCP_HOSTED_MAX_CALLS = env_int("SWITCHYARD_MCP_HOSTED_MAX_CALLS", 20, minimum=1)
SWITCHYARD_MCP_HOSTED_TIMEOUT = env_float("SWITCHYARD_MCP_HOSTED_TIMEOUT", 30.0, minimum=0.1)
# Hosts or CIDRs a caller's MCP server URL may reach although they are not public
# (loopback, private, link-local), comma-separated; registered servers are not checked.
SWITCHYARD_MCP_HOSTED_ALLOW = os.environ.get("SWITCHYARD_MCP_HOSTED_ALLOW", "")
# Host-level powers belong to the operator (gateway/access/rules/operator.py). The
# environment variables an ``os.environ/NAME`` reference may read (names and * patterns,
# comma-separated; unset: gateway.base.secrets.secret_refs.DEFAULT_ALLOW); the gateway's own
# settings are never read. And whether stdio MCP servers (commands run on this host) may
# be registered from the console and /api; off: only ``manage.py import_config`` adds them.
SWITCHYARD_ENV_ALLOW = _env_allow()
# Variables the operator pairs with the one endpoint they may be sent to from a console-
# or /api-saved row ("MY_KEY=https://llm.internal.example,..."); a variable of a known
# vendor goes to that vendor's hosts without it (gateway.base.secrets.families).
SWITCHYARD_ENV_ENDPOINTS = _env_endpoints()
SWITCHYARD_STDIO_MCP_SERVERS = env_bool("SWITCHYARD_STDIO_MCP_SERVERS", False)
# Installed plugins (entry point group "switchyard", gateway.base.plugins) loaded at
# start-up: "all" (the default), "none", or the entry point names, comma-separated.
SWITCHYARD_PLUGINS = env_str("SWITCHYARD_PLUGINS", "all")
# Whether the host's cloud credentials (Google application default or a key file path,
# AWS default chain or profile) may be sent to a provider base URL that is not the
# provider's official endpoint (gateway.providers.ambient); off: official endpoints only.
SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT = env_bool(
    "SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT", False
)
SWITCHYARD_URL_FETCH_TIMEOUT = env_float("SWITCHYARD_URL_FETCH_TIMEOUT", 10.0, minimum=0.1)
# Web fetch run by the gateway for upstreams that do not run it (gateway.features.server_tools),
# under the URL fetch rules above; off: the tool is treated as any the upstream cannot take.
SWITCHYARD_WEB_FETCH = env_bool("SWITCHYARD_WEB_FETCH", True)
# Budget alerts (gateway.features.alerts): how often spend is compared with the thresholds, and
# whether the webhook may be a private, loopback or link-local host (an operator power).
SWITCHYARD_ALERT_EVERY_SECONDS = env_float("SWITCHYARD_ALERT_EVERY_SECONDS", 30.0, minimum=1.0)
# Continuous evaluators (console.evals.continuous): how often the lease holder looks at
# the journal's new requests.
SWITCHYARD_EVALUATORS_EVERY_SECONDS = env_float(
    "SWITCHYARD_EVALUATORS_EVERY_SECONDS", 10.0, minimum=0.5
)
SWITCHYARD_ALERT_WEBHOOK_PRIVATE = env_bool("SWITCHYARD_ALERT_WEBHOOK_PRIVATE", False)
# Bills (gateway.features.billing): the providers' own usage and cost APIs read daily beside the
# journal; the admin keys are read from the environment by the sources themselves
# (SWITCHYARD_OPENAI_ADMIN_KEY, SWITCHYARD_ANTHROPIC_ADMIN_KEY). A day is alerted when
# its drift passes both the percent of the journal and the amount.
SWITCHYARD_BILL_RECONCILE_DAYS = env_int("SWITCHYARD_BILL_RECONCILE_DAYS", 3, minimum=1)
SWITCHYARD_BILL_DRIFT_PERCENT = env_float("SWITCHYARD_BILL_DRIFT_PERCENT", 5.0, minimum=0.0)
SWITCHYARD_BILL_DRIFT_USD = env_float("SWITCHYARD_BILL_DRIFT_USD", 1.0, minimum=0.0)
# The cache doctor (gateway.features.cache_doctor): a route whose warm misses lost at least
# this many dollars over a UTC day is sent to the alert channels the next day (0: never).
SWITCHYARD_CACHE_LOSS_ALERT_USD = env_float("SWITCHYARD_CACHE_LOSS_ALERT_USD", 5.0, minimum=0.0)
# Budget alert emails (gateway.features.alerts.email): the operator's SMTP server, through Django's
# email backend. Alerts are emailed only when SWITCHYARD_EMAIL_HOST (or a backend of the
# operator's, SWITCHYARD_EMAIL_BACKEND) is set; an owner then lists the recipients.
EMAIL_BACKEND = env_str("SWITCHYARD_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("SWITCHYARD_EMAIL_HOST")
EMAIL_PORT = env_int("SWITCHYARD_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("SWITCHYARD_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("SWITCHYARD_EMAIL_PASSWORD")
EMAIL_USE_SSL = env_bool("SWITCHYARD_EMAIL_SSL", False)  # implicit TLS (port 465)
EMAIL_USE_TLS = env_bool("SWITCHYARD_EMAIL_STARTTLS", not EMAIL_USE_SSL)
if EMAIL_USE_SSL and EMAIL_USE_TLS:
    raise ImproperlyConfigured("SWITCHYARD_EMAIL_SSL and SWITCHYARD_EMAIL_STARTTLS: one, not both")
EMAIL_TIMEOUT = env_float("SWITCHYARD_EMAIL_TIMEOUT", 10.0, minimum=0.1)
DEFAULT_FROM_EMAIL = env_str("SWITCHYARD_EMAIL_FROM", "switchyard@localhost")
SWITCHYARD_ALERT_EMAIL = bool(EMAIL_HOST) or "SWITCHYARD_EMAIL_BACKEND" in os.environ
# Upstream timeouts, seconds: connect, first byte (read), idle between chunks, total.
SWITCHYARD_CONNECT_TIMEOUT = env_float("SWITCHYARD_CONNECT_TIMEOUT", 10.0, minimum=0.1)
SWITCHYARD_READ_TIMEOUT = env_float("SWITCHYARD_READ_TIMEOUT", 600.0, minimum=0.1)
SWITCHYARD_TOTAL_TIMEOUT = env_float("SWITCHYARD_TOTAL_TIMEOUT", 1800.0, minimum=1.0)
# A stream silent for this long gets a keep-alive (Anthropic ``ping`` event, or an SSE
# comment for OpenAI clients) so idle-timeouts of proxies in between do not cut it; 0: off.
SWITCHYARD_STREAM_KEEPALIVE_SECONDS = env_float(
    "SWITCHYARD_STREAM_KEEPALIVE_SECONDS", 15.0, minimum=0
)
# Bodies on the paths Django serves (console, login, admin, /api): read no further than
# this (413); the config import upload may be larger (gateway.edge.body_caps).
SWITCHYARD_MAX_FORM_BODY_BYTES = env_int(
    "SWITCHYARD_MAX_FORM_BODY_BYTES", 1024 * 1024, minimum=1024
)
SWITCHYARD_MAX_UPLOAD_BYTES = env_int("SWITCHYARD_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
# Files (/v1/files, batch input and output): where their bytes live ("" or a directory:
# a local directory, default <data dir>/files; s3://bucket/prefix: S3-compatible storage
# through botocore, with the endpoint, region and credentials below or botocore's own
# chain), and the largest upload (413 above).
SWITCHYARD_FILE_STORE = env_str("SWITCHYARD_FILE_STORE")
SWITCHYARD_FILE_STORE_ENDPOINT = env_str("SWITCHYARD_FILE_STORE_ENDPOINT")
SWITCHYARD_FILE_STORE_REGION = env_str("SWITCHYARD_FILE_STORE_REGION", "us-east-1")
SWITCHYARD_FILE_STORE_ACCESS_KEY_ID = env_str("SWITCHYARD_FILE_STORE_ACCESS_KEY_ID")
SWITCHYARD_FILE_STORE_SECRET_ACCESS_KEY = env_str("SWITCHYARD_FILE_STORE_SECRET_ACCESS_KEY")
SWITCHYARD_MAX_FILE_BYTES = env_int("SWITCHYARD_MAX_FILE_BYTES", 200 * 1024 * 1024, minimum=1024)
# What one key's files may take in the store at most, in bytes (uploads and the outputs
# of its batches; expired files do not count); 0: no quota. The master key has none.
SWITCHYARD_FILES_QUOTA_BYTES = env_int("SWITCHYARD_FILES_QUOTA_BYTES", 10 * 1024**3, minimum=0)
# What one key may keep of each kind of stored object: stored responses, conversations,
# conversation items, stored interactions (each counted on its own); 0: no quota. The
# master key has none. Over it: a 413 storage_quota_exceeded (gateway/core/storage_quota.py).
SWITCHYARD_STORED_OBJECTS_QUOTA = env_int("SWITCHYARD_STORED_OBJECTS_QUOTA", 100_000, minimum=0)
# Batches: requests of one gateway-run batch in flight at once (per batch).
SWITCHYARD_BATCH_CONCURRENCY = env_int("SWITCHYARD_BATCH_CONCURRENCY", 8, minimum=1)
# background Responses (gateway/features/responses/background) one process runs at once
SWITCHYARD_BACKGROUND_CONCURRENCY = env_int("SWITCHYARD_BACKGROUND_CONCURRENCY", 16, minimum=1)
# Batches submitted to an upstream's batch API: seconds between polls of its status.
SWITCHYARD_BATCH_POLL_SECONDS = env_float("SWITCHYARD_BATCH_POLL_SECONDS", 30.0, minimum=0.05)
# A connection must send a whole request head within this many seconds (408 otherwise;
# also the longest a connection may stay open before its first request).
SWITCHYARD_HEADER_TIMEOUT_SECONDS = env_float(
    "SWITCHYARD_HEADER_TIMEOUT_SECONDS", 10.0, minimum=0.1
)
# A kept-alive connection idle this long is closed (uvicorn's ``timeout_keep_alive``); a
# draining worker closes its idle connections no sooner. Behind a load balancer that
# keeps idle connections to its backends, set it above the balancer's own idle timeout
# (AWS ALB 60 s, Google 600 s), or the balancer may send a request on a connection the
# gateway is closing and get none back (a 502).
SWITCHYARD_KEEP_ALIVE_SECONDS = env_int("SWITCHYARD_KEEP_ALIVE_SECONDS", 5, minimum=1)
SWITCHYARD_MAX_CONNECTIONS = env_int("SWITCHYARD_MAX_CONNECTIONS", 1000, minimum=1)
# Request headers: more than this many, or more than this many bytes in all (names and
# values), get a 431 (in the caller's dialect on the API paths).
SWITCHYARD_MAX_HEADERS = env_int("SWITCHYARD_MAX_HEADERS", 100, minimum=10)
SWITCHYARD_MAX_HEADER_BYTES = env_int("SWITCHYARD_MAX_HEADER_BYTES", 32 * 1024, minimum=4096)
# Budgets: what a request holds of its key's budget while in flight when its cost
# cannot be estimated (the route's price or the request's max output is unknown), USD;
# and how long a hold outlives a request that never settles (its worker was killed).
SWITCHYARD_BUDGET_RESERVATION_USD = env_float("SWITCHYARD_BUDGET_RESERVATION_USD", 0.01, minimum=0)
SWITCHYARD_BUDGET_HOLD_SECONDS = env_float(
    "SWITCHYARD_BUDGET_HOLD_SECONDS", SWITCHYARD_TOTAL_TIMEOUT + 60, minimum=1.0
)
# Graceful shutdown (SIGTERM): new API requests get a 503 at once; those in flight get
# this long to finish; streams still open then end with an in-stream error event.
SWITCHYARD_SHUTDOWN_GRACE_SECONDS = env_float("SWITCHYARD_SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0)
# Response cache in this process's memory (routes opt in; with REDIS_URL it is in Redis).
SWITCHYARD_CACHE_MAX_ENTRIES = env_int("SWITCHYARD_CACHE_MAX_ENTRIES", 10_000, minimum=1)
SWITCHYARD_CACHE_MAX_BYTES = env_int("SWITCHYARD_CACHE_MAX_BYTES", 128 * 1024 * 1024, minimum=1024)
# Identical requests on a cached route wait up to this long for the one already calling
# the upstream (gateway/core/cache/flights.py); 0: each calls on its own.
SWITCHYARD_CACHE_FLIGHT_WAIT_SECONDS = env_float(
    "SWITCHYARD_CACHE_FLIGHT_WAIT_SECONDS", 60.0, minimum=0
)
# Request journal: bodies kept, their cap, how long rows are kept.
SWITCHYARD_LOG_BODIES = env_bool("SWITCHYARD_LOG_BODIES", True)
SWITCHYARD_LOG_BODY_MAX_BYTES = env_int("SWITCHYARD_LOG_BODY_MAX_BYTES", 256 * 1024, minimum=0)
SWITCHYARD_LOG_RETENTION_DAYS = env_int("SWITCHYARD_LOG_RETENTION_DAYS", 30, minimum=0)
# Hourly usage rollups behind the dashboard outlive the raw rows.
SWITCHYARD_ROLLUP_RETENTION_DAYS = env_int("SWITCHYARD_ROLLUP_RETENTION_DAYS", 400, minimum=0)
# Days audit events are kept (0: forever, the default); pruned with the logs.
SWITCHYARD_AUDIT_RETENTION_DAYS = env_int("SWITCHYARD_AUDIT_RETENTION_DAYS", 0, minimum=0)
# Stored Responses API responses (store: true, previous_response_id); 0 keeps them.
SWITCHYARD_RESPONSES_RETENTION_DAYS = env_int("SWITCHYARD_RESPONSES_RETENTION_DAYS", 30, minimum=0)
# The journal's queue per process (gateway.journal): records, bytes in memory.
SWITCHYARD_JOURNAL_QUEUE_SIZE = env_int("SWITCHYARD_JOURNAL_QUEUE_SIZE", 50_000, minimum=10)
SWITCHYARD_JOURNAL_MAX_BYTES = env_int(
    "SWITCHYARD_JOURNAL_MAX_BYTES", 64 * 1024 * 1024, minimum=1024 * 1024
)
# Queued bodies past 8 MiB in memory go to a temporary file in DATA_DIR, up to this (0: none).
SWITCHYARD_JOURNAL_SPOOL_BYTES = env_int(
    "SWITCHYARD_JOURNAL_SPOOL_BYTES", 512 * 1024 * 1024, minimum=0
)
SWITCHYARD_JOURNAL_FLUSH_SECONDS = env_float("SWITCHYARD_JOURNAL_FLUSH_SECONDS", 0.5, minimum=0.01)
# Routing: retry backoff, Retry-After cap and total time per request; cooldown of a
# deployment after N failures within a window.
SWITCHYARD_RETRY_BASE_SECONDS = env_float("SWITCHYARD_RETRY_BASE_SECONDS", 0.25, minimum=0)
SWITCHYARD_RETRY_MAX_BACKOFF_SECONDS = env_float(
    "SWITCHYARD_RETRY_MAX_BACKOFF_SECONDS", 8.0, minimum=0
)
SWITCHYARD_RETRY_AFTER_CAP_SECONDS = env_float(
    "SWITCHYARD_RETRY_AFTER_CAP_SECONDS", 30.0, minimum=0
)
SWITCHYARD_RETRY_TOTAL_SECONDS = env_float("SWITCHYARD_RETRY_TOTAL_SECONDS", 120.0, minimum=0.1)
SWITCHYARD_COOLDOWN_FAILURES = env_int("SWITCHYARD_COOLDOWN_FAILURES", 3, minimum=1)
SWITCHYARD_COOLDOWN_WINDOW_SECONDS = env_float(
    "SWITCHYARD_COOLDOWN_WINDOW_SECONDS", 60.0, minimum=0.1
)
SWITCHYARD_COOLDOWN_SECONDS = env_float("SWITCHYARD_COOLDOWN_SECONDS", 30.0, minimum=0)
# How often each process checks the registry version in the database (seconds).
SWITCHYARD_REGISTRY_POLL_SECONDS = env_float("SWITCHYARD_REGISTRY_POLL_SECONDS", 1.0, minimum=0.05)
# How often each process compares the registry tables' fingerprint, on PostgreSQL, to
# find changes made without the ORM's signals (SQL, .update()); 0: never.
SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS = env_float(
    "SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS", 5.0, minimum=0
)

# daphne's app only serves ``runserver`` (its ASGI development server, WebSockets
# included); every other process leaves it out: loading it imports twisted, autobahn and
# pyOpenSSL (about 20 MB of a uvicorn worker's memory, ~0.3 s of each management
# command's start). ``serve --server daphne`` imports daphne itself.
_DAPHNE_APP = (
    ["daphne"] if "runserver" in sys.argv[1:2] and not os.environ.get(UVICORN_WORKER_ENV) else []
)

INSTALLED_APPS = [
    *_DAPHNE_APP,
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "channels",
    # not "ninja": as an installed app it is imported by every process at start (with
    # pydantic and django.test, 14 MB of each worker); its vendored Swagger UI is found
    # through NINJA_FILES below and rendered by gateway.web.api.docs.
    "gateway",
    "console",
    # the features that are units (gateway/web/units.py): one line each; their hooks,
    # pages, /api routers and LiteLLM sections are composed in this order
    "console.evals.apps.EvalsConfig",
    "gateway.features.people.apps.PeopleConfig",
    "gateway.features.mcp.apps.McpConfig",
    "gateway.features.guardrails.apps.GuardrailsConfig",
    "gateway.features.cache_doctor.apps.CacheDoctorConfig",
    "gateway.features.alerts.apps.AlertsConfig",
    "gateway.features.dashboards.apps.DashboardsConfig",
    "gateway.features.prompts.apps.PromptsConfig",
    "gateway.features.media.apps.MediaConfig",
    "gateway.features.batches.apps.BatchesConfig",
    "gateway.features.a2a.apps.A2aConfig",
    "gateway.features.semantic_cache.apps.SemanticCacheConfig",
    "gateway.features.server_tools.apps.ServerToolsConfig",
    "gateway.features.gemini_live.apps.GeminiLiveConfig",
]

MIDDLEWARE = [
    # --role all: the console's requests take turns (gateway/edge/console_work)
    "gateway.edge.console_work.console_work_limit",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "gateway.telemetry.audit.AuditMiddleware",  # who changes what (gateway/telemetry/audit)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "gateway.edge.security_headers.content_security_policy",  # console pages' CSP
    "gateway.base.read_replica.console_reads_middleware",  # console reads: the replica
]

# django-ninja's own templates and vendored static files (the Swagger UI, no CDN), found
# without importing the package.
_NINJA_SPEC = importlib.util.find_spec("ninja")
assert _NINJA_SPEC is not None and _NINJA_SPEC.submodule_search_locations
NINJA_FILES = Path(next(iter(_NINJA_SPEC.submodule_search_locations)))

ROOT_URLCONF = "gateway.server.urls"
ASGI_APPLICATION = "gateway.server.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # the console app's templates/ (found through APP_DIRS), and ninja's
        "DIRS": [NINJA_FILES / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
            ],
        },
    },
]

DATABASES = {"default": _database()}


def _region() -> str:
    """SWITCHYARD_REGION: this instance's region of several sharing one budget ledger
    (gateway.limits.budget_ledger); unset, one region and no ledger. Several regions
    share the primary database, so it must be PostgreSQL, and each region counts in its
    own Redis."""
    region = env_str("SWITCHYARD_REGION").strip()
    if not region:
        return ""
    if len(region) > 64 or not region.replace("-", "").replace("_", "").isalnum():
        raise ImproperlyConfigured(
            f"SWITCHYARD_REGION must be a name of letters, digits, - and _ (at most 64), "
            f"got {region!r}"
        )
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "SWITCHYARD_REGION needs DATABASE_URL to name the PostgreSQL every region "
            "shares (the budget ledger lives there)"
        )
    if not REDIS_URL:
        raise ImproperlyConfigured(
            "SWITCHYARD_REGION needs REDIS_URL: the region's processes count their "
            "slices of the budgets in its Redis"
        )
    return region


SWITCHYARD_REGION = _region()
# The budget ledger of several regions: a slice is this share of a budget; the region's
# lease holder syncs every SYNC seconds and gives back a slice idle for IDLE seconds.
SWITCHYARD_LEDGER_SLICE_PERCENT = env_float("SWITCHYARD_LEDGER_SLICE_PERCENT", 10.0, minimum=0.1)
SWITCHYARD_LEDGER_SYNC_SECONDS = env_float("SWITCHYARD_LEDGER_SYNC_SECONDS", 2.0, minimum=0.1)
SWITCHYARD_LEDGER_IDLE_SECONDS = env_float("SWITCHYARD_LEDGER_IDLE_SECONDS", 30.0, minimum=0.1)
# An optional read replica: the console's heavy reads of the journal's tables go there
# (gateway.base.read_replica); everything else, and every write, to the primary.
if env_str("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = _database("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # a test run has one database
DATABASE_ROUTERS = ["gateway.base.read_replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CHANNEL_LAYERS = _channel_layers(REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Sign-in throttled per account and per client address (gateway.access.login_throttle).
AUTHENTICATION_BACKENDS = ["gateway.access.login_throttle.ThrottledModelBackend"]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "console:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [NINJA_FILES / "static"]  # ninja/swagger-ui-bundle.js and the rest
STATIC_ROOT = DATA_DIR / "staticfiles"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {LOG_LEVEL!r}"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # every URL a log line quotes is masked (user info, credential query values)
    "filters": {"url_secrets": {"()": "gateway.base.secrets.url_secrets.MaskUrlSecrets"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["url_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # HTTP clients log every URL they call at INFO (an MCP server URL may carry a token)
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
        # a warning per failed reconnect; gateway.base.db_work logs an outage once instead
        "psycopg.pool": {"level": "ERROR"},
        # the paths Django logs for refused requests, masked where the record is made
        # (so every handler, not only ours, gets the invitation link without its token)
        "django.request": {"filters": ["url_secrets"]},
        "django.security.csrf": {"filters": ["url_secrets"]},
    },
}
