"""``manage.py reconcile_bills``: reads the configured bills now and writes the drift per
provider, route and day; a bad ``--since`` or no admin key set is a CommandError."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gateway.models import BillDrift

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_command_runs_it_now(gateway_journal, openai_bill, monkeypatch):
    out = StringIO()
    call_command("reconcile_bills", "--since", "2025-11-20", stdout=out)
    assert "openai:" in out.getvalue() and "alerted" in out.getvalue()
    assert BillDrift.objects.filter(route="gpt").exists()
    with pytest.raises(CommandError, match="--since must be a date"):
        call_command("reconcile_bills", "--since", "yesterday")
    monkeypatch.delenv("SWITCHYARD_OPENAI_ADMIN_KEY")
    with pytest.raises(CommandError, match="SWITCHYARD_OPENAI_ADMIN_KEY"):
        call_command("reconcile_bills")
