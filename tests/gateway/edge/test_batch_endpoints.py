"""``/v1/files``, ``/v1/batches`` and ``/v1/messages/batches`` (also under ``/openai`` and
``/anthropic``) in process: paths found with their prefix, a caller without a key refused
in its dialect before the body is read, unknown endpoints a 404, JSON bodies checked (too
large, not JSON, not an object), an upload that is not multipart refused, the files'
round trip, and reading admitted without the key's budgets. (Quotas:
tests/gateway/features/batches/files/test_quota.py.)"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import orjson
import pytest

from gateway import journal
from gateway.base.entries import MASTER
from gateway.core.service import Caller
from gateway.edge import batch_endpoints, endpoints
from tests.gateway.features.batches.files.test_quota import BOUNDARY, form

KEY = dataclasses.replace(MASTER, id=5151, name="batcher", prefix="sy-ba")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def files_dir(settings, tmp_path, monkeypatch):
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    settings.SWITCHYARD_FILES_QUOTA_BYTES = 0
    settings.REDIS_URL = ""
    monkeypatch.setattr(journal, "record", lambda record: None)


async def call(
    method: str, path: str, body: bytes = b"", headers: dict | None = None, key=KEY, query=b""
) -> tuple[int, dict | bytes]:
    pieces = [body]

    async def receive() -> dict:
        return {
            "type": "http.request",
            "body": pieces.pop(0) if pieces else b"",
            "more_body": False,
        }

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    found = batch_endpoints.target(path)
    assert found is not None
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": query}
    io = batch_endpoints.Io(endpoints.read_body, endpoints.send_reply)
    caller = Caller(key=key, key_error="no API key was sent")
    await batch_endpoints.serve(scope, receive, send, found, headers or {}, caller, io)
    raw = sent[1]["body"]
    try:
        return sent[0]["status"], orjson.loads(raw)
    except orjson.JSONDecodeError:
        return sent[0]["status"], raw


def test_paths_are_found_with_their_prefix():
    assert batch_endpoints.target("/v1/files") == ("/v1/files", [], "")
    assert batch_endpoints.target("/openai/v1/files/file-1/content") == (
        "/v1/files",
        ["file-1", "content"],
        "/openai",
    )
    assert batch_endpoints.target("/anthropic/v1/messages/batches/b1/results") == (
        "/v1/messages/batches",
        ["b1", "results"],
        "/anthropic",
    )
    assert batch_endpoints.target("/v1/filesystem") is None
    assert batch_endpoints.target("/v1/chat/completions") is None


def test_reading_is_admitted_without_any_budget():
    key = dataclasses.replace(KEY, budget_usd=Decimal(5), max_budget_per_user=Decimal(1))
    free = batch_endpoints._without_budgets(key)
    assert (free.budget_usd, free.max_budget_per_user) == (None, None)
    assert free.rpm_limit == key.rpm_limit and key.budget_usd == Decimal(5)


async def test_no_key_is_refused_in_the_callers_dialect():
    status, body = await call("GET", "/v1/files", key=None)
    assert status == 401 and body["error"]["message"] == "no API key was sent"
    status, body = await call("GET", "/v1/messages/batches", key=None)
    assert (
        status == 401
        and body["type"] == "error"
        and body["error"]["type"] == "authentication_error"
    )


async def test_an_unknown_endpoint_is_a_404():
    status, body = await call("PUT", "/v1/files/file-1")
    assert status == 404 and body["error"]["code"] == "unknown_url"


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"{", {}, 400, "not valid JSON"),
        (b"[1]", {}, 400, "must be a JSON object"),
        (b"{}", {"content-length": "999999999999"}, 413, "exceeds the limit"),
    ],
)
async def test_a_bad_json_body_is_refused(body, headers, status, words):
    got, answer = await call("POST", "/v1/batches", body, headers)
    assert got == status and words in answer["error"]["message"]


async def test_an_upload_must_be_multipart():
    status, body = await call("POST", "/v1/files", b"{}", {"content-type": "application/json"})
    assert status == 400 and "multipart/form-data" in body["error"]["message"]


async def test_a_file_is_uploaded_listed_read_and_deleted():
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    status, made = await call("POST", "/openai/v1/files", form(b"hello"), headers)
    assert status == 200 and made["bytes"] == 5 and made["purpose"] == "user_data"
    status, listed = await call("GET", "/v1/files", query=b"purpose=user_data")
    assert status == 200 and [f["id"] for f in listed["data"]] == [made["id"]]
    assert await call("GET", f"/v1/files/{made['id']}/content") == (200, b"hello")
    status, gone = await call("DELETE", f"/v1/files/{made['id']}")
    assert status == 200 and gone["deleted"] is True
    assert (await call("GET", f"/v1/files/{made['id']}"))[0] == 404
