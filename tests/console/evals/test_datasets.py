"""A dataset from the request log: the log query's filters pick the requests, their
inbound bodies (any chat dialect) become rows, their answers optionally the references;
requests without a kept body are skipped; /api/datasets/from-log says what went wrong."""

from __future__ import annotations

import json

import pytest

from console.evals import datasets
from console.evals.parsing import DatasetError
from gateway.models import RequestBody, RequestLog

pytestmark = pytest.mark.django_db


def logged(
    request_id: str, route: str, dialect: str, inbound: dict | None, outbound: dict | None
) -> None:
    log = RequestLog.objects.create(
        request_id=request_id,
        dialect=dialect,
        endpoint="chat" if dialect == "openai" else "messages",
        route=route,
        status=200,
    )
    if inbound is not None:
        RequestBody.objects.create(
            log=log,
            inbound_request=json.dumps(inbound),
            outbound_response=json.dumps(outbound or {}),
        )


@pytest.fixture
def log_rows(db) -> None:
    logged(
        "r-openai", "chat", "openai",
        {"model": "chat", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]},
        {"choices": [{"message": {"role": "assistant", "content": "4"}}]},
    )  # fmt: skip
    logged(
        "r-anthropic", "chat", "anthropic",
        {"model": "chat", "max_tokens": 10, "system": "Terse.", "messages": [{"role": "user", "content": "Capital of France?"}]},
        {"type": "message", "content": [{"type": "text", "text": "Paris"}]},
    )  # fmt: skip
    logged("r-nobody", "chat", "openai", None, None)
    logged(
        "r-other",
        "other",
        "openai",
        {"model": "other", "messages": [{"role": "user", "content": "x"}]},
        None,
    )


def test_rows_from_the_log_with_answers(log_rows) -> None:
    rows = datasets.rows_from_log({"route": "chat"}, with_answers=True)
    by_id = {r.metadata["request_id"]: r for r in rows}
    assert set(by_id) == {"r-openai", "r-anthropic"}  # no body: skipped; other route: filtered out
    assert by_id["r-openai"].messages == [{"role": "user", "content": "What is 2+2?"}]
    assert by_id["r-openai"].system == "Be brief." and by_id["r-openai"].reference == "4"
    assert by_id["r-anthropic"].system == "Terse." and by_id["r-anthropic"].reference == "Paris"
    without = datasets.rows_from_log({"route": "chat"}, with_answers=False)
    assert all(r.reference == "" for r in without)


def test_nothing_usable_is_an_error(log_rows, staff_client) -> None:
    with pytest.raises(DatasetError, match="no logged request"):
        datasets.rows_from_log({"route": "missing"}, with_answers=False)
    response = staff_client.post(
        "/api/datasets/from-log",
        {"name": "x", "filters": {"status": "teapot"}},
        content_type="application/json",
    )
    assert response.status_code == 422 and "status" in response.json()["detail"]
    response = staff_client.post(
        "/api/datasets/from-log", {"name": "from-chat", "filters": {"route": "chat"}, "with_answers": True},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201 and response.json()["rows"] == 2
