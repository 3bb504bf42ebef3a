"""Provider secrets: literal ones are stored encrypted, references resolved at call time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gateway.models import MissingSecret, Provider, resolve_secret
from tests.live import running_gateway

SECRET = "sk-live-VERY-distinctive-secret-0123456789"


@pytest.mark.django_db
def test_literal_secret_is_encrypted_and_decrypts() -> None:
    provider = Provider(name="up", kind="openai", base_url="http://127.0.0.1:9/v1")
    provider.set_secret(SECRET)
    provider.save()
    stored = Provider.objects.values_list("secret_ciphertext", flat=True).get()
    assert SECRET not in stored and stored.startswith("fernet:")
    assert Provider.objects.get().stored_secret() == SECRET
    assert SECRET not in Provider.objects.get().secret_display


@pytest.mark.django_db
def test_environment_reference_is_kept_and_resolved_when_used(monkeypatch) -> None:
    provider = Provider(name="up", kind="openai", base_url="http://127.0.0.1:9/v1")
    provider.set_secret("os.environ/UPSTREAM_KEY_FOR_TEST")
    provider.save()
    stored = Provider.objects.get().stored_secret()
    assert stored == "os.environ/UPSTREAM_KEY_FOR_TEST"
    with pytest.raises(MissingSecret, match="UPSTREAM_KEY_FOR_TEST"):
        resolve_secret(stored)
    monkeypatch.setenv("UPSTREAM_KEY_FOR_TEST", "from-env")
    assert resolve_secret(stored) == "from-env"


def test_malformed_reference_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Provider(name="x").set_secret("os.environ/not a name")


def test_raw_secret_never_appears_in_the_database_file(tmp_path) -> None:
    with running_gateway(tmp_path / "gw") as gw:
        gw.shell(
            "from gateway.models import Provider\n"
            "p = Provider(name='up', kind='openai', base_url='http://127.0.0.1:9/v1')\n"
            f"p.set_secret({SECRET!r})\n"
            "p.save()\n"
        )
        assert "up" in gw.shell(
            "from gateway.models import Provider; print(Provider.objects.get(name='up').name)"
        )
    data = b"".join(path.read_bytes() for path in (tmp_path / "gw").glob("switchyard.sqlite3*"))
    assert SECRET.encode() not in data
    assert b"fernet:" in data
