"""Key creation, validation (nothing written on bad input), updates, revocation taking
effect through the registry snapshot, and the ``create_key`` command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from gateway.access import keys, registry
from gateway.models import ApiKey, Provider, Route

pytestmark = pytest.mark.django_db


@pytest.fixture
def routes(db) -> list[Route]:
    Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    return [Route.objects.create(name="echo"), Route.objects.create(name="gpt-4o")]


def test_create_key_stores_only_a_hash(routes):
    created = keys.create_key(name="ci", routes=["echo"], rpm_limit="3", budget_usd="2.5")
    stored = ApiKey.objects.get(pk=created.key.pk)
    assert created.raw.startswith("sy-") and len(created.raw) > 40
    assert stored.key_hash == ApiKey.hash_key(created.raw)
    assert created.raw not in {str(getattr(stored, f.attname)) for f in ApiKey._meta.fields}
    assert stored.prefix == created.raw[:10]
    assert [r.name for r in stored.routes.all()] == ["echo"]
    assert stored.rpm_limit == 3 and stored.budget_usd == Decimal("2.5")
    assert stored.budget_period == "month"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"name": ""}, "name"),
        ({"routes": ["echo", "nope"]}, "routes"),
        ({"rpm_limit": -1}, "rpm_limit"),
        ({"rpm_limit": "ten"}, "rpm_limit"),
        ({"tpm_limit": 0}, "tpm_limit"),
        ({"budget_usd": "-5"}, "budget_usd"),
        ({"budget_usd": "lots"}, "budget_usd"),
        ({"budget_usd": "5", "budget_period": "week"}, "budget_period"),
        ({"expires_at": "31/12/2030"}, "expires_at"),
        ({"expires_at": "2001-01-01"}, "expires_at"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(routes, fields, bad_field):
    values = {"name": "ci", **fields}
    with pytest.raises(ValidationError) as raised:
        keys.create_key(**values)
    assert list(raised.value.message_dict) == [bad_field]
    assert ApiKey.objects.count() == 0


def test_every_bad_field_is_reported_at_once(routes):
    with pytest.raises(ValidationError) as raised:
        keys.create_key(name="x", rpm_limit=-1, budget_usd="1", budget_period="year")
    assert set(raised.value.message_dict) == {"rpm_limit", "budget_period"}


def test_expiry_accepts_a_date_or_a_datetime(routes):
    day = keys.create_key(name="a", expires_at="2099-06-30").key
    assert day.expires_at == datetime(2099, 6, 30, tzinfo=UTC)
    moment = datetime.now(UTC) + timedelta(hours=1)
    assert keys.create_key(name="b", expires_at=moment).key.expires_at == moment


def test_update_changes_only_given_fields_and_validates_first(routes):
    key = keys.create_key(name="ci", rpm_limit=5, tpm_limit=1000, routes=["echo"]).key
    keys.update_key(key, rpm_limit=10, routes=["echo", "gpt-4o"])
    key.refresh_from_db()
    assert key.rpm_limit == 10 and key.tpm_limit == 1000
    assert sorted(r.name for r in key.routes.all()) == ["echo", "gpt-4o"]

    with pytest.raises(ValidationError) as raised:
        keys.update_key(key, rpm_limit=20, routes=["missing"])
    assert list(raised.value.message_dict) == ["routes"]
    key.refresh_from_db()
    assert key.rpm_limit == 10 and key.routes.count() == 2

    keys.update_key(key, tpm_limit=None, routes=[])
    key.refresh_from_db()
    assert key.tpm_limit is None and key.routes.count() == 0


@pytest.mark.django_db(transaction=True)
def test_revocation_is_in_the_snapshot_after_commit(routes, snapshot_reset):
    created = keys.create_key(name="ci", rpm_limit=3)  # commits: the snapshot is rebuilt
    entry = registry.current().key(created.raw)
    assert entry is not None and not entry.revoked and entry.rpm_limit == 3

    keys.revoke_key(created.key)
    assert registry.current().key(created.raw).revoked
    first = ApiKey.objects.get(pk=created.key.pk).revoked_at
    keys.revoke_key(ApiKey.objects.get(pk=created.key.pk))  # idempotent
    assert ApiKey.objects.get(pk=created.key.pk).revoked_at == first
