"""The Batch APIs' operations (``gateway.features.batches.operations``), OpenAI's and
Anthropic's Message Batches: a new batch checked (its parameters a 400 as each service
answers, an OpenAI input file with bad lines a batch that ``failed`` saying why), saved
with its lines, rendered in each service's shape, listed newest first, cancelled (an
ended OpenAI batch a 409), deleted and its results read. Each key sees its own batches.
In process with a local store; the SDKs against a running gateway are in
``tests/gateway/edge/api/test_files_batches_live.py``."""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.utils import timezone

from gateway.access import registry
from gateway.base.entries import MASTER
from gateway.base.errors import InvalidRequest, ModelNotFound, PermissionDenied
from gateway.features.batches import operations
from gateway.features.batches.files import api as files
from gateway.models.batches import Batch, BatchLine
from tests.gateway.entries import route, snapshot

KEY = dataclasses.replace(MASTER, id=3, name="k", routes=frozenset({"chat"}))
OTHER = dataclasses.replace(MASTER, id=4, name="o")
CHAT = "/v1/chat/completions"


@pytest.fixture
def setup(db: None, settings: Any, tmp_path: Path, snapshot_reset: None) -> None:
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    registry.install(snapshot(route("chat", "m"), route("other", "m")))


def _file(key: Any, *lines: dict[str, Any], purpose: str = "batch") -> str:
    data = b"\n".join(orjson.dumps(line) for line in lines) + b"\n"
    made = files.create(key, purpose, "in.jsonl", io.BytesIO(data), len(data), None)
    return str(made["id"])


def _line(custom_id: str, model: str = "chat") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": custom_id}]}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}


def _openai(key: Any, file_id: str, **extra: Any) -> dict[str, Any]:
    body = {"endpoint": CHAT, "completion_window": "24h", "input_file_id": file_id, **extra}
    return operations.openai_create(key, body).save()


def test_an_openai_batch_is_saved_with_its_lines(setup: None) -> None:
    made = _openai(KEY, _file(KEY, _line("a"), _line("b")), metadata={"run": "1"})
    assert made["object"] == "batch" and made["id"].startswith("batch_")
    assert made["status"] == "validating" and made["metadata"] == {"run": "1"}
    assert made["request_counts"] == {"total": 2, "completed": 0, "failed": 0}
    assert made["expires_at"] - made["created_at"] == 24 * 3600
    lines = BatchLine.objects.filter(batch_id=made["id"]).order_by("index")
    assert [line.custom_id for line in lines] == ["a", "b"]
    assert operations.openai_retrieve(KEY, made["id"])["id"] == made["id"]
    with pytest.raises(ModelNotFound):
        operations.openai_retrieve(OTHER, made["id"])  # another key's: not there


def test_an_openai_file_with_bad_lines_makes_a_failed_batch(setup: None) -> None:
    made = _openai(KEY, _file(KEY, _line("a"), _line("b", model="other")))
    assert made["status"] == "failed" and made["failed_at"] is not None
    (problem,) = made["errors"]["data"]
    assert problem["code"] == "model_not_found" and problem["line"] == 2
    assert made["request_counts"]["total"] == 0
    assert not BatchLine.objects.filter(batch_id=made["id"]).exists()


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"endpoint": "/v1/images"}, "endpoint"),
        ({"completion_window": "48h"}, "completion_window"),
        ({"metadata": {"n": 1}}, "metadata.n"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"input_file_id": ""}, "input_file_id"),
        ({"input_file_id": "file-nobodys"}, "input_file_id"),
    ],
)
def test_openai_parameters_refused_as_openai_does(
    setup: None, change: dict[str, Any], param: str
) -> None:
    body = {"endpoint": CHAT, "completion_window": "24h", "input_file_id": _file(KEY, _line("a"))}
    with pytest.raises(InvalidRequest) as refused:
        operations.openai_create(KEY, {**body, **change})
    assert refused.value.param == param
    assert not Batch.objects.exists()


def test_an_input_file_of_another_key_or_purpose_is_refused(setup: None) -> None:
    for file_id in (_file(OTHER, _line("a")), _file(KEY, _line("a"), purpose="vision")):
        with pytest.raises(InvalidRequest) as refused:
            _openai(KEY, file_id)
        assert refused.value.param == "input_file_id"


def test_openai_counts_list_and_cancel(setup: None) -> None:
    first = _openai(KEY, _file(KEY, _line("a"), _line("b")))
    second = _openai(KEY, _file(KEY, _line("c")))
    Batch.objects.filter(id=second["id"]).update(created_at=timezone.now() + timedelta(seconds=1))
    BatchLine.objects.filter(batch_id=first["id"], custom_id="a").update(outcome="succeeded")
    BatchLine.objects.filter(batch_id=first["id"], custom_id="b").update(outcome="errored")
    counts = operations.openai_retrieve(KEY, first["id"])["request_counts"]
    assert counts == {"total": 2, "completed": 1, "failed": 1}
    listed = operations.openai_list(KEY, {"limit": "1"})
    assert [b["id"] for b in listed["data"]] == [second["id"]] and listed["has_more"]
    rest = operations.openai_list(KEY, {"after": second["id"]})
    assert [b["id"] for b in rest["data"]] == [first["id"]]
    assert operations.openai_list(OTHER, {})["data"] == []
    assert operations.openai_cancel(KEY, first["id"])["status"] == "cancelling"
    assert operations.openai_cancel(KEY, first["id"])["status"] == "cancelling"  # again: as is
    Batch.objects.filter(id=second["id"]).update(status="completed")
    with pytest.raises(InvalidRequest) as refused:
        operations.openai_cancel(KEY, second["id"])
    assert refused.value.status == 409


def _anthropic(key: Any, *requests: dict[str, Any]) -> dict[str, Any]:
    return operations.anthropic_create(key, {"requests": list(requests)}).save()


def _request(custom_id: str, **params: Any) -> dict[str, Any]:
    given = {"model": "chat", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return {"custom_id": custom_id, "params": {**given, **params}}


def test_a_message_batch_is_saved_rendered_and_its_results_read(setup: None) -> None:
    made = _anthropic(KEY, _request("a"), _request("b"))
    assert made["type"] == "message_batch" and made["processing_status"] == "in_progress"
    assert made["request_counts"]["processing"] == 2 and made["results_url"] is None
    assert made["created_at"].endswith("Z")
    with pytest.raises(InvalidRequest, match="not finished"):
        operations.anthropic_results(KEY, made["id"])
    with pytest.raises(InvalidRequest, match="cancel it first"):
        operations.anthropic_delete(KEY, made["id"])
    answer = {"id": "msg_1", "type": "message", "content": []}
    BatchLine.objects.filter(custom_id="a").update(outcome="succeeded", response=answer)
    BatchLine.objects.filter(custom_id="b").update(outcome="errored", response={"bad": 1})
    Batch.objects.filter(id=made["id"]).update(status="completed", completed_at=timezone.now())
    ended = operations.anthropic_retrieve(KEY, made["id"], "https://gw.example")
    assert ended["processing_status"] == "ended" and ended["ended_at"] is not None
    assert ended["results_url"] == f"https://gw.example/v1/messages/batches/{made['id']}/results"
    assert ended["request_counts"] == {
        "processing": 0, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 0,
    }  # fmt: skip
    results = [orjson.loads(x) for x in operations.anthropic_results(KEY, made["id"]).splitlines()]
    assert results[0] == {"custom_id": "a", "result": {"type": "succeeded", "message": answer}}
    assert results[1]["result"]["type"] == "errored"
    assert results[1]["result"]["error"]["type"] == "error"
    assert operations.anthropic_delete(KEY, made["id"]) == {
        "id": made["id"], "type": "message_batch_deleted",
    }  # fmt: skip
    assert not Batch.objects.exists()


@pytest.mark.parametrize(
    ("requests", "error"),
    [
        ([], InvalidRequest),
        (["x"], InvalidRequest),
        ([{"custom_id": "has space", "params": {}}], InvalidRequest),
        ([_request("a"), _request("a")], InvalidRequest),
        ([_request("a", stream=True)], InvalidRequest),
        ([_request("a", max_tokens="10")], InvalidRequest),
        ([_request("a", messages=None)], InvalidRequest),
        ([_request("a", model=None)], InvalidRequest),
        ([_request("a", model="ghost")], ModelNotFound),
        ([_request("a", model="other")], PermissionDenied),  # not on the key's list
    ],
)
def test_a_message_batch_refused_whole(
    setup: None, requests: list[Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        operations.anthropic_create(KEY, {"requests": requests})


def test_message_batches_listed_and_cancelled(setup: None) -> None:
    made = [_anthropic(KEY, _request("a")) for _ in range(3)]
    for i, batch in enumerate(made):
        Batch.objects.filter(id=batch["id"]).update(
            created_at=timezone.now() + timedelta(seconds=i)
        )
    ids = [b["id"] for b in made]
    newest = operations.anthropic_list(KEY, {"limit": "2"}, "")
    assert [b["id"] for b in newest["data"]] == ids[:0:-1] and newest["has_more"]
    after = operations.anthropic_list(KEY, {"after_id": ids[1]}, "")
    assert [b["id"] for b in after["data"]] == [ids[0]] and not after["has_more"]
    before = operations.anthropic_list(KEY, {"before_id": ids[0]}, "")
    assert [b["id"] for b in before["data"]] == ids[:0:-1]
    cancelled = operations.anthropic_cancel(KEY, ids[0], "")
    assert cancelled["processing_status"] == "canceling"
    assert cancelled["cancel_initiated_at"] is not None


def test_an_unknown_lines_result_is_expired() -> None:
    assert operations.anthropic_result(BatchLine(outcome="")) == {"type": "expired"}
    assert operations.anthropic_result(BatchLine(outcome="canceled")) == {"type": "canceled"}
    kept = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    line = BatchLine(outcome="errored", response=kept)
    assert operations.anthropic_result(line) == {"type": "errored", "error": kept}


def test_the_openai_counts_of_a_batch_with_no_lines_counted() -> None:
    batch = Batch(id="batch_x", api="openai", status="completed", total=4, completed=3, failed=1)
    assert operations.openai_render(batch, Counter())["request_counts"] == {
        "total": 4, "completed": 0, "failed": 0,
    }  # fmt: skip
    running = Batch(id="batch_y", api="openai", status="in_progress", total=4, completed=3)
    assert operations.openai_render(running, Counter())["request_counts"]["completed"] == 3


def test_a_message_batch_past_the_most_lines(setup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "MAX_ANTHROPIC_LINES", 1)
    with pytest.raises(InvalidRequest, match="at most 1 requests per batch"):
        operations.anthropic_create(KEY, {"requests": [_request("a"), _request("b")]})
