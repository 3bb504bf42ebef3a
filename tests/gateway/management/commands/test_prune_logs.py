"""``manage.py prune_logs --older-than AGE``: deletes the journal rows older than the
age and then the body parts no log names any more; an age it cannot read is refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from gateway.models import BodyBlob, RequestLog
from tests.gateway.journal.sessions import records
from tests.gateway.journal.test_pruning import DAY


@pytest.mark.django_db
def test_prune_logs_command_takes_an_age() -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    now = datetime.now(UTC)
    RequestLog.objects.bulk_create(
        [
            RequestLog(
                request_id=f"m-{m}",
                dialect="openai",
                endpoint="chat",
                created_at=now - timedelta(minutes=m),
            )
            for m in (10, 100, 60 * 13)
        ]
    )
    out = StringIO()
    call_command("prune_logs", "--older-than", "90m", stdout=out)
    assert "Deleted 2" in out.getvalue()
    assert list(RequestLog.objects.values_list("request_id", flat=True)) == ["m-10"]
    with pytest.raises(CommandError):
        call_command("prune_logs", "--older-than", "soon")


def test_the_command_prunes_the_parts_after_the_logs(db, clock, committed, settings) -> None:
    settings.SWITCHYARD_LOG_BODIES = True  # (the bodies are stored in parts)
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 256 * 1024
    clock[0] = time.time() - 40 * DAY  # (the command reads the real clock)
    committed(records("anthropic", 3))
    RequestLog.objects.update(created_at=datetime.now(UTC) - timedelta(days=40))
    out = []

    class Out:
        def write(self, text: str) -> None:
            out.append(text)

    call_command("prune_logs", "--older-than", "30d", stdout=Out())
    assert not RequestLog.objects.exists() and not BodyBlob.objects.exists()
    assert "3 request log(s)" in "".join(out) and "body part(s)" in "".join(out)


@pytest.mark.django_db
def test_without_an_age_the_retention_setting_decides(settings) -> None:
    from io import StringIO

    from django.core.management import CommandError

    now = datetime.now(UTC)
    RequestLog.objects.bulk_create(
        [
            RequestLog(
                request_id=f"d-{d}",
                dialect="openai",
                endpoint="chat",
                created_at=now - timedelta(days=d),
            )
            for d in (1, 10)
        ]
    )
    settings.SWITCHYARD_LOG_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="keep forever"):
        call_command("prune_logs", stdout=StringIO())
    with pytest.raises(CommandError, match="--batch-size"):
        call_command("prune_logs", "--older-than", "1d", "--batch-size", "0")
    assert RequestLog.objects.count() == 2
    settings.SWITCHYARD_LOG_RETENTION_DAYS = 7
    call_command("prune_logs", stdout=StringIO())
    assert list(RequestLog.objects.values_list("request_id", flat=True)) == ["d-1"]
