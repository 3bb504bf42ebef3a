"""``manage.py seed_demo``: the echo provider and demo routes (idempotent), a master key
kept in the data folder and printed once unless one is configured, and the first console
admin, owner, from the environment or generated and printed once."""

from __future__ import annotations

import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from gateway.access import roles
from gateway.management.commands.seed_demo import DEMO_ROUTES
from gateway.models import Deployment, Provider, Route

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path
    for name in ("SWITCHYARD_MASTER_KEY", "SWITCHYARD_ADMIN_USER", "SWITCHYARD_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_registry_is_seeded_once(data_dir):
    first = seed()
    assert Provider.objects.get(name="echo").kind == Provider.Kind.ECHO
    assert sorted(Route.objects.values_list("name", flat=True)) == sorted(DEMO_ROUTES)
    pair = Route.objects.get(name="echo-pair")
    assert pair.fallbacks == ["echo"]
    assert sorted(pair.deployments.values_list("model", "weight")) == [
        ("echo-a", 3.0),
        ("echo-b", 1.0),
    ]
    assert Route.objects.get(name="echo-slow").deployments.get().params == {"delay": 0.05}
    rows = Deployment.objects.count()
    again = seed()
    assert Deployment.objects.count() == rows == 4
    assert "Demo routes: echo, echo-slow, echo-pair" in first and again


def test_a_master_key_is_made_once_and_kept_private(data_dir):
    out = seed()
    path = data_dir / "master_key"
    key = path.read_text()
    assert key.startswith("sy-master-") and out.count(key) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = seed()
    assert key not in again and f"kept in {path}" in again
    assert path.read_text() == key


def test_a_configured_master_key_is_left_alone(data_dir, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", "sy-from-env-0123456789")
    assert "taken from SWITCHYARD_MASTER_KEY" in seed()
    assert not (data_dir / "master_key").exists()


def test_a_generated_admin_is_printed_once_and_owns_the_gateway():
    out = seed()
    line = next(line for line in out.splitlines() if "Console admin (shown once)" in line)
    password = line.rsplit(" / ", 1)[1]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert roles.role_of(admin) == roles.OWNER
    assert "Console admin 'admin' exists" in seed()
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_the_admin_from_the_environment_is_created_then_its_password_reset(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_ADMIN_USER", "ops")
    monkeypatch.setenv("SWITCHYARD_ADMIN_PASSWORD", "first-password-1")
    out = seed()
    assert "Console admin 'ops' created from env" in out and "first-password-1" not in out
    user = get_user_model().objects.get(username="ops")
    user.is_staff = user.is_superuser = False
    user.save()
    monkeypatch.setenv("SWITCHYARD_ADMIN_PASSWORD", "second-password-2")
    assert "Console admin 'ops': password set from env" in seed()
    user = get_user_model().objects.get(username="ops")
    assert user.check_password("second-password-2") and user.is_superuser and user.is_staff
    assert roles.role_of(user) == roles.OWNER
