"""The batches' console page (``gateway.features.batches.views``): every key's batches
with their progress (the lines' outcomes, or the upstream's counts while a native batch
runs) and a failed batch's first problem; cancel asks the runner to stop (audited); an
ended batch's results downloaded (OpenAI's output and error files, Anthropic's results),
a running one's or an unknown file not found."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from gateway.base.entries import MASTER
from gateway.features.batches import runner, views
from gateway.features.batches.files import api as files
from gateway.models import AuditEvent
from gateway.models.batches import Batch, BatchLine


@pytest.fixture
def store(settings: Any, tmp_path: Path) -> Path:
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    return tmp_path / "files"


def _batch(batch_id: str, api: str = "openai", **fields: Any) -> Batch:
    endpoint = "/v1/chat/completions" if api == "openai" else "/v1/messages"
    return Batch.objects.create(
        id=batch_id,
        api=api,
        endpoint=endpoint,
        key_name="ci",
        expires_at=timezone.now() + timedelta(hours=24),
        **fields,
    )


def test_the_list_shows_progress_and_problems(staff_client: Client) -> None:
    running = _batch("batch_run", total=4, status="in_progress")
    for i, outcome in enumerate(("succeeded", "errored", "", "")):
        BatchLine.objects.create(
            batch=running, index=i, custom_id=f"c{i}", body={}, outcome=outcome
        )
    _batch("batch_native", total=10, status="in_progress", native="openai", completed=6, failed=1)
    problems = {"data": [{"line": 3, "code": "invalid_url", "message": "bad url"}, {"line": 4}]}
    _batch("batch_bad", status="failed", errors=problems)
    page = staff_client.get("/batches/")
    assert page.status_code == 200
    items = {item["batch"].id: item for item in page.context["items"]}
    assert (items["batch_run"]["done"], items["batch_run"]["percent"]) == (2, 50)
    assert (items["batch_run"]["succeeded"], items["batch_run"]["failed"]) == (1, 1)
    assert (items["batch_native"]["done"], items["batch_native"]["succeeded"]) == (7, 6)
    assert items["batch_bad"]["problem"] == "line 3: bad url (+1 more)"
    assert items["batch_bad"]["percent"] == 100 and page.context["running"] is True


def test_a_problem_without_a_line_or_message() -> None:
    assert views._problem(Batch(errors=None)) == ""
    assert views._problem(Batch(errors={"data": [{"code": "empty_file"}]})) == "empty_file"


def test_cancel_asks_the_runner_and_is_audited(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken: list[bool] = []
    monkeypatch.setattr(runner, "wake", lambda: woken.append(True))
    _batch("msgbatch_1", api="anthropic", status="in_progress")
    answer = staff_client.post("/batches/msgbatch_1/cancel/")
    assert answer.status_code == 302
    assert Batch.objects.get(id="msgbatch_1").status == "cancelling" and woken == [True]
    assert AuditEvent.objects.filter(action="cancel", object_id="msgbatch_1").exists()
    assert staff_client.post("/batches/nope/cancel/").status_code == 404


def test_an_ended_batchs_results_are_downloaded(staff_client: Client, store: Path) -> None:
    output = files.create(MASTER, "batch_output", "out.jsonl", io.BytesIO(b"{}\n"), 3, None)
    _batch("batch_done", status="completed", output_file_id=output["id"])
    got = staff_client.get("/batches/batch_done/output.jsonl")
    assert got.status_code == 200 and got.content == b"{}\n"
    assert got["Content-Disposition"] == 'attachment; filename="batch_done_output.jsonl"'
    assert staff_client.get("/batches/batch_done/errors.jsonl").status_code == 404  # none
    assert staff_client.get("/batches/batch_done/results.jsonl").status_code == 404  # OpenAI's
    ended = _batch("msgbatch_done", api="anthropic", status="completed")
    BatchLine.objects.create(batch=ended, index=0, custom_id="a", body={}, outcome="succeeded")
    results = staff_client.get("/batches/msgbatch_done/results.jsonl")
    assert results.status_code == 200 and b'"custom_id":"a"' in results.content
    _batch("batch_running", status="in_progress")
    assert staff_client.get("/batches/batch_running/output.jsonl").status_code == 404
