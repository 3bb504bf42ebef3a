"""``manage.py create_key``: prints the new key once (and it works through the registry
snapshot); bad input is a CommandError naming the option, with nothing created."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gateway.access import registry
from gateway.models import ApiKey

pytestmark = pytest.mark.django_db


def test_command_prints_the_key_once_and_it_works(routes, snapshot_reset):
    out = StringIO()
    call_command(
        "create_key",
        "--name",
        "laptop",
        "--routes",
        "echo,gpt-4o",
        "--rpm",
        "60",
        "--tpm",
        "100000",
        "--budget",
        "10",
        "--period",
        "day",
        "--expires",
        "2099-01-01",
        stdout=out,
    )
    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("sy-")
    key = ApiKey.objects.get(key_hash=ApiKey.hash_key(raw))
    assert (key.name, key.rpm_limit, key.tpm_limit) == ("laptop", 60, 100000)
    assert key.budget_usd == Decimal("10") and key.budget_period == "day"
    assert key.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert out.getvalue().count(raw) == 1
    registry.rebuild()
    assert registry.current().key(raw).routes == frozenset({"echo", "gpt-4o"})


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--routes", "echo,unknown"], "--routes"),
        (["--rpm", "-3"], "--rpm"),
        (["--budget", "5", "--period", "fortnight"], "--period"),
        (["--expires", "not-a-date"], "--expires"),
        (["--expires", "2000-01-01"], "--expires"),
    ],
)
def test_command_rejects_bad_input_and_creates_nothing(routes, args, option):
    with pytest.raises(CommandError) as raised:
        call_command("create_key", "--name", "bad", *args, stdout=StringIO())
    assert option in str(raised.value)
    assert ApiKey.objects.count() == 0
