"""Shared fixtures. ``gateway_server`` is a real server (subprocess) with the demo
echo routes, shared by the tests of a module."""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from httpx._transports import default as httpx_transports
from hypothesis import HealthCheck, settings

from gateway.access import registry
from gateway.base import http, plugins

from . import schedule
from .live import Gateway, running_gateway

# Tests name made-up variables in os.environ/ references: every name the gateway may read
# (its own settings still never). The allow-list's own tests set it themselves
# (tests/gateway/base/secrets/test_secret_refs.py); live servers inherit this.
os.environ.setdefault("SWITCHYARD_ENV_ALLOW", "*")

# The test environment has the example plugin installed (tests/plugin_package, by
# scripts/test.sh), which the app loaded when pytest-django set it up: the suite runs the
# gateway's own tree (tests/gateway/base/test_plugins_installed.py loads the plugin
# itself), and so do the live servers it starts.
os.environ.setdefault("SWITCHYARD_PLUGINS", "none")
for _plugin in plugins.loaded():
    if not _plugin.builtin:
        plugins.unload(_plugin.name)

# Property tests draw their examples on a loaded 2-core CI machine beside live servers:
# a slow draw there is the machine, not the strategy (the examples drawn are the same).
settings.register_profile("switchyard", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("switchyard")


# Every HTTP client the tests make (httpx.get/post, the SDKs' clients on httpx or httpx2)
# built a TLS context and loaded a CA bundle: ~20 ms of CPU a client, against ~1 ms for a
# request to a local server (the live tests make thousands, one per httpx.post). The
# default context is made once for each setting it is read from (trust_env,
# SSL_CERT_FILE, SSL_CERT_DIR) and shared (an SSLContext serves any number of
# connections); a client asking for anything else (verify=False, a context of its own, a
# client certificate) gets its own as before.
def _share_default_ssl_context(transports: Any) -> None:
    make = transports.create_ssl_context

    @functools.cache
    def default(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
        return make(verify=True, cert=None, trust_env=trust_env)  # type: ignore[no-any-return]

    def shared(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is True and cert is None:
            environ = os.environ
            return default(trust_env, environ.get("SSL_CERT_FILE"), environ.get("SSL_CERT_DIR"))
        return make(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[no-any-return]

    transports.create_ssl_context = shared


_share_default_ssl_context(httpx_transports)
with contextlib.suppress(ImportError):  # the SDKs' fork, where installed
    from httpx2._transports import default as httpx2_transports

    _share_default_ssl_context(httpx2_transports)


@pytest.fixture(autouse=True)
def _lifecycle_flags_restored() -> Iterator[None]:
    """A test that drains or shuts the in-process gateway down leaves it refusing
    ("shutting down; retry") for every later test of its worker: each test starts from
    the flags it found."""
    from gateway.base import lifecycle

    closing, draining = lifecycle._closing, lifecycle._draining
    yield
    lifecycle._closing, lifecycle._draining = closing, draining


JOURNAL_THREAD_SECONDS = 60.0  # generous: it writes one batch (500 records at most) at a time


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Before any fixture of the test is torn down (pytest-django's flush of a
    transactional test database among them), the process's journal thread has finished
    the batch it is writing: the loop of the test that queued the records is closed
    when the test ends, which cancels the writer's task but not the write its thread is
    doing, and that transaction, on the test database (SQLite in memory with a shared
    cache, whose table locks refuse at once rather than wait), made the flush or the
    next test's first write fail with "database table is locked" (seen after
    tests/gateway/routing/test_prefix_affinity_service.py's 212 requests)."""
    _journal_thread_idle()
    return (yield)


def _journal_thread_idle() -> None:
    journal = sys.modules.get("gateway.journal")  # (not imported: no thread either)
    writer = getattr(journal, "_writer", None)
    executor = getattr(writer, "_executor", None)  # (a test's stand-in has none)
    if executor is None:
        return
    try:
        finished = executor.submit(int)  # its one thread runs it after what it is doing
    except RuntimeError:
        return  # shut down meanwhile (a drain): it writes nothing more
    try:
        finished.result(timeout=JOURNAL_THREAD_SECONDS)
    except TimeoutError:
        raise AssertionError(
            f"the journal thread was still writing {JOURNAL_THREAD_SECONDS:.0f} s after the test"
        ) from None


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashing() -> None:
    """Passwords the test process hashes take a thousand PBKDF2 iterations, not a
    million (``tests/password_hashing.py``): it takes Django's PBKDF2 hasher's place in
    the list (an entry beside it would be shadowed, both being ``pbkdf2_sha256``)."""
    from django.conf import settings
    from django.contrib.auth import hashers

    from .password_hashing import quick_hashers

    settings.PASSWORD_HASHERS = quick_hashers(settings.PASSWORD_HASHERS)
    hashers.get_hashers.cache_clear()
    hashers.get_hashers_by_algorithm.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_outbound_client() -> Iterator[None]:
    """Each test starts with the real transport and a fresh pooled client."""
    http.use_transport(None)
    yield
    http.use_transport(None)


@pytest.fixture(autouse=True)
def _fresh_sign_in_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed sign-ins counted by one test never throttle another's (the in-process
    store of ``gateway.access.login_throttle`` lives as long as the test process)."""
    from gateway.access import login_throttle
    from gateway.access.login_attempts import LoginAttempts

    monkeypatch.setattr(login_throttle, "local", LoginAttempts())


@pytest.fixture(autouse=True)
def _fresh_health_checks() -> Iterator[None]:
    """Health checks one test made never mark another's deployments as failing (the
    in-process results of ``gateway.ops.deployment_health`` are keyed by deployment
    id, which a rolled-back test database hands out again)."""
    from gateway.ops import deployment_health

    deployment_health._latest.clear()
    yield
    deployment_health._latest.clear()


@pytest.fixture(autouse=True)
def _fresh_body_parts_memory() -> Iterator[None]:
    """The journal's memory of the body parts it stored (``gateway.journal.blobs``)
    never outlives the database a test emptied: a part it remembers would otherwise not
    be written again, and a later test's body would name a part that is gone."""
    from gateway.journal import blobs

    blobs.forget()
    yield
    blobs.forget()


@pytest.fixture(autouse=True)
def _fresh_django_cache() -> None:
    """Nothing one test cached is read by another: the console's dashboard is cached
    under the newest log id, which a rolled-back test database hands out again, so a
    board another test rendered could stand for this test's rows."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("gateway")) as gateway:
        yield gateway


@pytest.fixture
def snapshot_reset() -> Iterator[None]:
    """Restore the in-memory registry snapshot after a test that installs its own."""
    saved = registry.current()
    yield
    registry.install(saved)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, one a module (skipped without Debian's
    Chromium): the browser tests' (``tests/console/browser_support.py``; their ``page``
    and gateway are ``tests/console/conftest.py``'s or a module's own)."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from .console.browser_support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def bill_drift(db: None) -> None:
    """A day of drift on a recent day (``/api/bill-drift``'s tests and the Bills page's)."""
    from tests.gateway.features.billing.bill_drift_rows import drift_row

    drift_row()


@pytest.fixture(scope="module")
def bedrock_batch(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A moto S3 server with the module's ``BUCKET`` and the mock Bedrock batch control
    plane reading it, shared by the module's tests (unit drives and live gateways alike):
    (S3 endpoint, control plane)."""
    from tests.integration.mock_bedrock_batch import bedrock_batch_service

    with bedrock_batch_service(request.module.BUCKET) as service:
        yield service


@pytest.fixture(scope="module")
def s3(bedrock_batch: tuple[str, Any]) -> str:
    return bedrock_batch[0]


@pytest.fixture(scope="module")
def control(bedrock_batch: tuple[str, Any]) -> Any:
    return bedrock_batch[1]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadfile``, whole files with the browser files in one unit
    (``tests/schedule.py``)."""
    if config.getoption("dist") == "loadfile":
        return schedule.FilesAndBrowsers(config, log)
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the longest test files first (``tests/schedule.py``)."""
    if hasattr(config, "workerinput"):  # an xdist process: the controller sends its order
        items[:] = schedule.order(items, schedule.seconds())
