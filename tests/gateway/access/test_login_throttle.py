"""Sign-in throttling: wrong passwords for one account (or from one address) make the
next attempts wait, without checking the password, on the console and on /admin; the
counts are shared through the counter service or Redis; the page says how long."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import login_throttle
from gateway.access.login_attempts import LoginAttempts
from gateway.base.counters import SOCKET_ENV
from gateway.server.counter_service import CounterService

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-123"
REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture(autouse=True)
def fresh_counts(monkeypatch, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    monkeypatch.setattr(login_throttle, "local", LoginAttempts())
    monkeypatch.delenv(SOCKET_ENV, raising=False)


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by the test."""
    now = [time.time()]
    monkeypatch.setattr(login_throttle.time, "time", lambda: now[0])
    return now


@pytest.fixture
def staff():
    return User.objects.create_user("ops", password=PASSWORD, is_staff=True, is_superuser=True)


def sign_in(path: str, username: str, password: str, address: str = "10.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(path, {"username": username, "password": password})
    return response, "_auth_user_id" in client.session


def fail(path: str, times: int, username: str = "ops", address: str = "10.0.0.1") -> None:
    for _ in range(times):
        response, signed_in = sign_in(path, username, "wrong", address)
        assert not signed_in


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_wrong_passwords_make_the_account_wait(path, staff, clock):
    fail(path, login_throttle.ACCOUNT_FREE_FAILURES)
    response, signed_in = sign_in(path, "ops", PASSWORD)  # the right one, too soon
    assert not signed_in
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert "Try again in 1 s" in response.content.decode()
    clock[0] += 1.5
    response, signed_in = sign_in(path, "ops", PASSWORD)
    assert signed_in  # the wait is over: the right password works, the count resets
    response, signed_in = sign_in(path, "ops", "wrong")
    assert response.status_code == 200 and "Try again" not in response.content.decode()


def test_the_wait_doubles_and_no_password_is_checked_meanwhile(staff, clock, monkeypatch):
    fail("/login/", login_throttle.ACCOUNT_FREE_FAILURES)  # then waits 1, 2, 4, 8 s
    for wait in (1, 2, 4):
        clock[0] += wait + 0.5
        fail("/login/", 1)
    checked = []
    original = ModelBackend.authenticate
    monkeypatch.setattr(
        ModelBackend, "authenticate", lambda *a, **k: checked.append(1) or original(*a, **k)
    )
    clock[0] += 7
    response, signed_in = sign_in("/login/", "ops", PASSWORD)
    assert not signed_in and response["Retry-After"] == "1" and not checked
    clock[0] += 1
    assert sign_in("/login/", "ops", PASSWORD)[1] and checked


def test_one_address_trying_many_accounts_waits(staff, clock):
    for n in range(login_throttle.ADDRESS_FREE_FAILURES):
        fail("/login/", 1, username=f"guess-{n}", address="10.9.9.9")
    response, signed_in = sign_in("/login/", "ops", PASSWORD, address="10.9.9.9")
    assert not signed_in and response.status_code == 429
    assert sign_in("/login/", "ops", PASSWORD, address="10.1.1.1")[1]  # others unaffected


def test_a_structured_warning_without_the_password(staff, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.login"):
        fail("/login/", login_throttle.ACCOUNT_FREE_FAILURES + 1)
    records = [r for r in caplog.records if r.name == "gateway.login"]
    assert {r.event for r in records} == {"sign_in.failed", "sign_in.refused"}
    assert all(r.account == "ops" and r.address == "10.0.0.1" for r in records)
    assert records[-1].retry_after_s >= 1
    assert not any("wrong" in r.getMessage() or "wrong" in str(r.__dict__) for r in records)


@pytest.fixture
def counter_service(monkeypatch):
    folder = tempfile.mkdtemp(prefix="sy-", dir="/tmp")
    service = CounterService(os.path.join(folder, "c.sock"))
    service.start()
    monkeypatch.setenv(SOCKET_ENV, service.path)
    yield service
    service.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_workers_share_the_counts_through_the_counter_service(staff, clock, counter_service):
    fail("/login/", login_throttle.ACCOUNT_FREE_FAILURES)
    assert not login_throttle.local.entries  # nothing counted in this process
    assert counter_service.store.logins.entries["account:ops"][0] == 5
    response, signed_in = sign_in("/login/", "ops", PASSWORD)  # any worker asks the service
    assert not signed_in and response.status_code == 429


def test_an_unreachable_service_falls_back_to_this_process(staff, clock, monkeypatch, caplog):
    monkeypatch.setenv(SOCKET_ENV, "/tmp/sy-no-such-socket.sock")
    fail("/login/", login_throttle.ACCOUNT_FREE_FAILURES)
    assert login_throttle.local.entries["account:ops"][0] == 5
    assert sign_in("/login/", "ops", PASSWORD)[0].status_code == 429
    assert "counting here" in caplog.text


@pytest.fixture
def redis_store(settings):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_URL
    yield client
    for name in client.scan_iter(f"{login_throttle.REDIS_PREFIX}:*"):
        client.delete(name)


def test_with_redis_the_counts_live_in_redis(clock, redis_store):
    name = f"user-{uuid.uuid4().hex[:8]}"
    User.objects.create_user(name, password=PASSWORD, is_staff=True)
    fail("/login/", login_throttle.ACCOUNT_FREE_FAILURES, username=name)
    assert not login_throttle.local.entries
    stored = redis_store.hgetall(f"{login_throttle.REDIS_PREFIX}:account:{name}")
    assert int(stored[b"n"]) == 5
    response, signed_in = sign_in("/login/", name, PASSWORD)
    assert not signed_in and response.status_code == 429
    clock[0] += 1.5
    assert sign_in("/login/", name, PASSWORD)[1]
    assert not redis_store.exists(f"{login_throttle.REDIS_PREFIX}:account:{name}")


def test_password_checks_run_one_at_a_time_per_process(monkeypatch):
    busy, most = [0], [0]
    lock = threading.Lock()

    def slow_check(self, request, username=None, password=None, **kwargs):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.05)
        with lock:
            busy[0] -= 1

    monkeypatch.setattr(ModelBackend, "authenticate", slow_check)
    backend = login_throttle.ThrottledModelBackend()

    def attempt(n: int) -> None:
        request = type("R", (), {"META": {"REMOTE_ADDR": f"10.2.0.{n}"}})()
        backend.authenticate(request, username=f"u{n}", password="x")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
