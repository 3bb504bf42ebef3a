"""Files and batches on a running server, through the official SDKs: ``openai``'s
``client.files`` and ``client.batches``, ``anthropic``'s ``client.messages.batches``.
One server for the module (local file store); keys made through /api/keys."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.console.role_sets import ADMINS, Expectation
from tests.live import MASTER_KEY, Gateway, running_gateway

# the batches' console page (gateway/features/batches/pages.py): every key's batch jobs
# and their results, for admins
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "batches": (ADMINS, ADMINS),
    "batch-cancel": (ADMINS, ADMINS),
    "batch-download": (ADMINS, ADMINS),
}

MAX_FILE = 12 * 1024 * 1024  # room for a large upload; the 413 past it is sent quickly
DONE = ("completed", "failed", "expired", "cancelled")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    folder: Path = tmp_path_factory.mktemp("batches")
    env = {"SWITCHYARD_MAX_FILE_BYTES": str(MAX_FILE), "SWITCHYARD_BATCH_CONCURRENCY": "4"}
    with running_gateway(folder, env) as gw:
        gw.shell(  # a route that takes 50 ms per answer, for cancelling mid-way
            "from decimal import Decimal; from gateway.models import Deployment, Provider, Route; "
            "route = Route.objects.create(name='echo-wait'); "
            "Deployment.objects.create(route=route, provider=Provider.objects.get(name='echo'), "
            "model='echo-wait', params={'first_delay': 0.05}, input_price=Decimal('0.1'), "
            "output_price=Decimal('0.4')); "
            "route = Route.objects.create(name='echo-hold'); "  # 2 s each: still running when
            "Deployment.objects.create(route=route, provider=Provider.objects.get(name='echo'), "
            "model='echo-hold', params={'first_delay': 2.0})"  # a slow browser reaches it
        )
        yield gw


def make_key(gw: Gateway, name: str, routes: list[str], **more) -> str:
    reply = httpx.post(
        f"{gw.url}/api/keys/",
        json={"name": name, "routes": routes, **more},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["key"]


@pytest.fixture(scope="module")
def keys(gateway) -> dict[str, str]:
    return {
        "echo": make_key(gateway, "echo only", ["echo"]),
        "other": make_key(gateway, "other", ["echo", "echo-slow"]),
        "poor": make_key(gateway, "poor", ["echo"], budget_usd="0.0001"),
        "broke": make_key(gateway, "broke", ["echo"], budget_usd="0"),
    }


def oai(gw: Gateway, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def jsonl(lines: list[dict]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


def chat_line(i: int, model: str = "echo", **more) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": f"question {i}"}]}
    return {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {**body, **more}}  # fmt: skip


def wait(client: openai.OpenAI, batch_id: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while (batch := client.batches.retrieve(batch_id)).status not in DONE:
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    return batch


def read_lines(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_files_with_the_sdk(gateway):
    client = oai(gateway)
    data = jsonl([chat_line(i) for i in range(3)])
    made = [client.files.create(file=(f"in{i}.jsonl", data), purpose="batch") for i in range(3)]
    other = client.files.create(file=("notes.txt", b"notes"), purpose="user_data")
    assert made[0].id.startswith("file-") and made[0].bytes == len(data)
    assert made[0].object == "file" and made[0].status == "processed" and made[0].expires_at
    assert client.files.retrieve(made[1].id).filename == "in1.jsonl"
    assert client.files.content(made[2].id).content == data
    listed = [f.id for f in client.files.list(purpose="batch")]
    assert made[2].id in listed and other.id not in listed
    page = client.files.list(purpose="batch", limit=1)  # newest first, one per page
    assert len(page.data) == 1 and page.has_more
    walked = [f.id for f in client.files.list(purpose="batch", limit=1)]  # the SDK pages on
    assert walked[:3] == [made[2].id, made[1].id, made[0].id]
    deleted = client.files.delete(made[0].id)
    assert deleted.deleted and deleted.id == made[0].id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(made[0].id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(made[0].id)


def test_file_expiry_and_list_order(gateway, keys):
    """``expires_after`` as OpenAI takes it (anchor ``created_at``, 1 hour to 30 days;
    a batch file's default 30 days, others never), and ``order``/``after`` paging."""
    client = oai(gateway, keys["echo"])
    hour = client.files.create(
        file=("h.txt", b"x"), purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )  # fmt: skip
    assert abs(hour.expires_at - (hour.created_at + 3600)) <= 1  # type: ignore[operator]
    kept = client.files.create(file=("k.txt", b"x"), purpose="assistants")
    assert kept.expires_at is None
    batch_file = client.files.create(file=("b.jsonl", b"{}"), purpose="batch")
    assert abs(batch_file.expires_at - (batch_file.created_at + 30 * 86400)) <= 1  # type: ignore[operator]
    for seconds in (60, 31 * 86400):
        with pytest.raises(openai.BadRequestError) as refused:
            client.files.create(
                file=("x.txt", b"x"), purpose="user_data",
                expires_after={"anchor": "created_at", "seconds": seconds},
            )  # fmt: skip
        assert refused.value.body["param"] == "expires_after[seconds]"  # type: ignore[index]
    for purpose in ("fine-tune", "vision", "evals"):
        assert client.files.create(file=("p.jsonl", b"{}"), purpose=purpose).purpose == purpose
    mine = [hour.id, kept.id, batch_file.id]
    oldest_first = [f.id for f in client.files.list(order="asc") if f.id in mine]
    assert oldest_first == mine
    after_first = client.files.list(order="asc", after=hour.id, limit=100).data
    assert [f.id for f in after_first][:2] == [kept.id, batch_file.id]
    newest_first = [f.id for f in client.files.list(order="desc", limit=100) if f.id in mine]
    assert newest_first == mine[::-1]
    with pytest.raises(openai.BadRequestError):
        client.files.list(order="sideways")  # type: ignore[arg-type]


def test_a_key_sees_only_its_own_files(gateway, keys):
    mine = oai(gateway, keys["echo"]).files.create(file=("a.jsonl", b"{}"), purpose="batch")
    theirs = oai(gateway, keys["other"])
    with pytest.raises(openai.NotFoundError) as refused:
        theirs.files.retrieve(mine.id)
    assert refused.value.body["type"] == "invalid_request_error"  # as OpenAI answers it  # type: ignore[index]
    assert "No such File object" in refused.value.message
    with pytest.raises(openai.NotFoundError):
        theirs.files.delete(mine.id)
    assert mine.id not in [f.id for f in theirs.files.list()]
    assert mine.id in [f.id for f in oai(gateway).files.list()]  # the master key sees all
    with pytest.raises(openai.AuthenticationError):
        oai(gateway, "sy-not-a-key").files.list()


def test_unknown_paths_and_missing_keys_in_each_envelope(gateway):
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    unknown = httpx.get(f"{gateway.url}/v1/batches/batch_x/nothing", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
    missing = httpx.get(f"{gateway.url}/v1/messages/batches/msgbatch_x", headers=auth)
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "not_found_error"
    # no key: refused before the body is read, whatever it declares
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\nxxxx"
        )
        head = conn.recv(65536)
    assert head.startswith(b"HTTP/1.1 401") and b"API key" in head
    listing = httpx.get(f"{gateway.url}/openai/v1/files", headers=auth)  # prefixed paths too
    assert listing.status_code == 200 and listing.json()["object"] == "list"


def test_bad_uploads_are_refused_and_store_nothing(gateway):
    client = oai(gateway)
    before = len(client.files.list().data)
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.files.create(file=("a.jsonl", b"{}"), purpose="nonsense")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="jsonl"):
        client.files.create(file=("a.csv", b"{}"), purpose="batch")
    with pytest.raises(openai.APIStatusError) as too_large:
        client.files.create(file=("big.jsonl", b"x" * (MAX_FILE + 1)), purpose="batch")
    assert too_large.value.status_code == 413
    assert f"{MAX_FILE} bytes" in too_large.value.message
    huge = httpx.post(  # past the envelope's slack: refused from Content-Length, unread
        f"{gateway.url}/v1/files",
        headers={"Authorization": f"Bearer {MASTER_KEY}", "content-type": "multipart/form-data; boundary=x"},
        content=b"x" * (MAX_FILE + 70_000),
    )  # fmt: skip
    assert huge.status_code == 413 and "exceeds the limit" in huge.json()["error"]["message"]
    assert len(client.files.list().data) == before


def upload_temporaries(gw: Gateway) -> list[Path]:
    folder = gw.data_dir / "files"
    return [p for p in folder.iterdir() if p.name.startswith(".upload-")] if folder.exists() else []


def test_a_large_file_streams_into_the_store(gateway, tmp_path):
    """The SDK uploads a file of several MiB from disk; it is stored as sent, and a
    batch file's lines are checked from the store (here: one line over the count)."""
    client = oai(gateway)
    big = tmp_path / "big.jsonl"
    line = json.dumps(chat_line(0)).encode()
    big.write_bytes(b"\n".join(line.replace(b'"q0"', f'"q{i}"'.encode()) for i in range(50_001)))
    size = big.stat().st_size
    assert 5 * 1024 * 1024 < size < MAX_FILE
    made = client.files.create(file=big, purpose="batch")
    assert made.bytes == size and made.filename == "big.jsonl"
    assert client.files.content(made.id).content == big.read_bytes()
    batch = client.batches.create(  # as OpenAI: made, and failed saying why
        input_file_id=made.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed"
    assert [e.code for e in batch.errors.data] == ["too_many_tasks"]
    client.files.delete(made.id)
    assert upload_temporaries(gateway) == []


def test_an_upload_cut_off_mid_way_leaves_nothing(gateway):
    """Raw socket: the file part's bytes reach the store's temporary file while the
    client still sends (streamed, not buffered); when it hangs up, the file is gone
    and no file was made."""
    before = len(oai(gateway).files.list().data)
    host, port = gateway.url.removeprefix("http://").split(":")
    head = (
        b'--cut\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
        b'--cut\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n"
            + f"Authorization: Bearer {MASTER_KEY}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=cut\r\n\r\n"
            + head
        )
        for _ in range(4):
            conn.sendall(b"z" * (1024 * 1024))
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size >= 2 * 1024 * 1024 for p in upload_temporaries(gateway)):
            assert time.monotonic() < deadline, "the upload did not reach the store as it came"
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while upload_temporaries(gateway):
        assert time.monotonic() < deadline, upload_temporaries(gateway)
        time.sleep(0.02)
    assert len(oai(gateway).files.list().data) == before


def test_a_batch_runs_each_line_through_the_service(gateway, keys):
    client = oai(gateway, keys["echo"])
    lines = [chat_line(i) for i in range(6)]
    lines.append({**chat_line(6), "body": {"model": "echo", "messages": []}})  # refused: fails
    source = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.id.startswith("batch_") and batch.request_counts.total == 7
    assert batch.metadata == {"job": "nightly"}
    batch = wait(client, batch.id)
    assert batch.status == "completed" and batch.completed_at and batch.in_progress_at
    assert (batch.request_counts.completed, batch.request_counts.failed) == (6, 1)
    with pytest.raises(openai.ConflictError, match="status 'completed'"):  # 409, as OpenAI
        client.batches.cancel(batch.id)
    output = read_lines(client, batch.output_file_id)
    assert sorted(o["custom_id"] for o in output) == [f"q{i}" for i in range(6)]
    for line in output:
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200
        answer = line["response"]["body"]["choices"][0]["message"]["content"]
        assert answer == f"Echo: question {line['custom_id'][1:]}"
    errors = read_lines(client, batch.error_file_id)
    assert [e["custom_id"] for e in errors] == ["q6"]
    assert errors[0]["response"]["status_code"] == 400
    assert "messages" in errors[0]["response"]["body"]["error"]["message"]
    assert client.files.retrieve(batch.output_file_id).purpose == "batch_output"
    assert batch.id in [b.id for b in client.batches.list()]
    assert batch.id not in [b.id for b in oai(gateway, keys["other"]).batches.list()]
    # every line is journaled as the key's request, tagged with the batch
    time.sleep(1.2)  # the journal writer's batch
    tagged = (
        gateway.shell(
            "from gateway.models import RequestLog; "
            f"rows = RequestLog.objects.filter(session='{batch.id}'); "
            "print(rows.count(), sorted(set(rows.values_list('key_name', 'user_agent'))))"
        )
        .strip()
        .splitlines()[-1]
    )
    assert tagged == "7 [('echo only', 'switchyard-batch')]"
    cost = (
        gateway.shell(
            f"from gateway.models import Batch; print(Batch.objects.get(id='{batch.id}').cost_usd)"
        )
        .strip()
        .splitlines()[-1]
    )
    assert float(cost) > 0  # six answers at the deployment's prices


def test_lines_run_at_the_bounded_concurrency(gateway):
    """SWITCHYARD_BATCH_CONCURRENCY (4 here) lines at a time, never more, and more than
    one: read from the journal's rows of the batch (each line's start and latency)."""
    client = oai(gateway)
    lines = [chat_line(i, model="echo-wait") for i in range(24)]  # 50 ms each
    source = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert wait(client, batch.id).request_counts.completed == 24
    time.sleep(1.2)  # the journal writer's batch
    spans = json.loads(
        gateway.shell(
            "import json; from gateway.models import RequestLog; "
            f"rows = RequestLog.objects.filter(session='{batch.id}'); "
            "print(json.dumps([(r.created_at.timestamp(), r.latency_ms) for r in rows]))"
        )
        .strip()
        .splitlines()[-1]
    )
    assert len(spans) == 24
    edges = sorted(
        [(start, 1) for start, _ in spans] + [(start + ms / 1000, -1) for start, ms in spans]
    )
    running = most = 0
    for _, step in edges:  # an end before a start at the same instant
        running += step
        most = max(most, running)
    assert 2 <= most <= 4, most


def test_lines_get_the_routes_failover(gateway):
    """A line goes through its route as any request does: its upstream failing (503),
    the route's fallback answers, and the line succeeds."""
    gateway.shell(
        "from gateway.models import Deployment, Provider, Route; "
        "route = Route.objects.create(name='flaky', fallbacks=['echo']); "
        "Deployment.objects.create(route=route, provider=Provider.objects.get(name='echo'), "
        "model='echo-down', params={'fail_status': 503})"
    )
    client = oai(gateway)
    deadline = time.monotonic() + 15  # the new route reaches the workers' registries
    while "flaky" not in {m.id for m in client.models.list()}:
        assert time.monotonic() < deadline, "the new route never reached the registry"
        time.sleep(0.1)
    source = client.files.create(
        file=("in.jsonl", jsonl([chat_line(i, model="flaky") for i in range(3)])),
        purpose="batch",
    )
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = wait(client, batch.id)
    assert (batch.request_counts.completed, batch.request_counts.failed) == (3, 0), batch
    for line in read_lines(client, batch.output_file_id):
        answer = line["response"]["body"]["choices"][0]["message"]["content"]
        assert answer == f"Echo: question {line['custom_id'][1:]}"


def test_a_spent_budget_fails_the_remaining_lines(gateway, keys):
    client = oai(gateway, keys["poor"])
    long = " ".join(["word"] * 2000)  # one answer costs more than the key's budget
    lines = [{**chat_line(i), "body": {"model": "echo", "messages": [
        {"role": "user", "content": long}]}} for i in range(3)]  # fmt: skip
    source = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = wait(client, batch.id, 60)
    assert batch.status == "completed" and batch.request_counts.failed >= 2, batch
    errors = read_lines(client, batch.error_file_id)
    assert {e["response"]["status_code"] for e in errors} == {429}
    # spent, or (budgets are exact) too little left for a line's worst case: final either way
    spent = ("is exhausted", "less than this request may cost")
    messages = [e["response"]["body"]["error"]["message"] for e in errors]
    assert all(any(words in m for words in spent) for m in messages), messages
    broke = oai(gateway, keys["broke"])
    source = broke.files.create(file=("in.jsonl", jsonl(lines[:1])), purpose="batch")
    with pytest.raises(openai.RateLimitError, match="budget"):  # no new batch
        broke.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_a_spent_team_or_owner_budget_refuses_new_batches_not_reading_them(gateway):
    """A spent budget refuses a new batch, never the reading of files and batches: as
    for the key's own budget, so for its team's and its owner's. Reading a batch whose
    lines had spent the team's budget was refused 429 (bench/budget_torture.py's batch
    cells: the results of a finished batch could not be fetched)."""
    out = gateway.shell(
        "import json\n"
        "from django.contrib.auth.models import User\n"
        "from gateway.access import keys\n"
        "from gateway.models import Profile, Team\n"
        "team = Team.objects.create(name='broke-team', budget_usd=0, budget_period='total')\n"
        "user = User.objects.create_user('broke-user')\n"
        "Profile.objects.create(user=user, budget_usd=0, budget_period='total')\n"
        "print(json.dumps([keys.create_key(name='team-broke', team=team.pk).raw, "
        "keys.create_key(name='user-broke', user='broke-user').raw]))"
    )
    for key in json.loads(out.strip().splitlines()[-1]):
        client = oai(gateway, key)
        source = client.files.create(file=("in.jsonl", jsonl([chat_line(0)])), purpose="batch")
        assert client.files.retrieve(source.id).id == source.id
        assert [b.id for b in client.batches.list()] == []
        with pytest.raises(openai.RateLimitError, match="budget"):  # no new batch
            client.batches.create(
                input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        with pytest.raises(openai.NotFoundError):  # a read: looked up, not refused
            client.batches.retrieve("batch_0123456789abcdef01234567")


def test_embeddings_and_responses_batches(gateway):
    client = oai(gateway)
    for endpoint, body, check in (
        ("/v1/embeddings", {"model": "echo", "input": "hello"},
         lambda b: len(b["data"][0]["embedding"]) > 0),
        ("/v1/responses", {"model": "echo", "input": "hello"},
         lambda b: b["object"] == "response" and b["status"] == "completed"),
    ):  # fmt: skip
        line = {"custom_id": "one", "method": "POST", "url": endpoint, "body": body}
        source = client.files.create(file=("in.jsonl", jsonl([line])), purpose="batch")
        batch = client.batches.create(
            input_file_id=source.id,
            endpoint=endpoint,
            completion_window="24h",  # type: ignore[arg-type]
        )
        batch = wait(client, batch.id)
        assert batch.status == "completed", batch
        assert check(read_lines(client, batch.output_file_id)[0]["response"]["body"])


@pytest.mark.parametrize(
    ("lines", "problems"),
    [
        ([chat_line(1), chat_line(1)], [("duplicate_custom_id", 2, "custom_id")]),
        ([{**chat_line(1), "url": "/v1/embeddings"}], [("invalid_url", 1, "url")]),
        ([{**chat_line(1), "method": "GET"}], [("invalid_request", 1, "method")]),
        ([chat_line(1, model="nope")], [("model_not_found", 1, "body.model")]),
        ([chat_line(1), chat_line(2, model="echo-slow")], [("model_not_found", 2, "body.model")]),
        ([chat_line(1, stream=True)], [("streaming_unsupported", 1, "body.stream")]),
        ([chat_line(1), "{not json"], [("invalid_json_line", 2, None)]),
        (
            [{"method": "POST", "url": "/v1/chat/completions", "body": {}}],
            [
                ("missing_required_parameter", 1, "custom_id"),
                ("invalid_request", 1, "body.model"),
                ("invalid_request", 1, "body.messages"),
            ],
        ),
        ([], [("empty_file", None, "input_file_id")]),
    ],
)
def test_a_bad_input_file_fails_the_batch_line_by_line(gateway, keys, lines, problems):
    """As OpenAI: the batch is made, fails at once without running a line, and its
    ``errors`` name each bad line (code, 1-based line, param)."""
    client = oai(gateway, keys["echo"])
    data = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()
    source = client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed" and batch.failed_at and batch.in_progress_at is None
    assert batch.errors and batch.errors.object == "list"
    assert [(e.code, e.line, e.param) for e in batch.errors.data] == problems
    assert all(e.message for e in batch.errors.data)
    assert batch.request_counts.total == 0 and batch.output_file_id is None
    with pytest.raises(openai.ConflictError, match="Cannot cancel a batch with status 'failed'"):
        client.batches.cancel(batch.id)


def test_batch_parameters_are_checked(gateway, keys):
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", jsonl([chat_line(1)])), purpose="batch")
    for change, param, code in (
        ({"endpoint": "/v1/images/generations"}, "endpoint", "invalid_value"),
        ({"completion_window": "1h"}, "completion_window", "invalid_value"),
        ({"metadata": {"tags": ["a"]}}, "metadata.tags", "invalid_type"),
    ):
        args = {"input_file_id": source.id, "endpoint": "/v1/chat/completions",
                "completion_window": "24h", **change}  # fmt: skip
        with pytest.raises(openai.BadRequestError) as refused:
            client.batches.create(**args)  # type: ignore[arg-type]
        assert refused.value.body["param"] == param  # type: ignore[index]
        assert refused.value.body["code"] == code  # type: ignore[index]
    # a file that does not exist, or that the key cannot read: refused, as OpenAI
    # refuses it, and no batch is made
    theirs = oai(gateway, keys["other"]).files.create(
        file=("t.jsonl", jsonl([chat_line(1)])), purpose="batch"
    )
    mine = oai(gateway, keys["echo"])
    before = [b.id for b in mine.batches.list()]
    for missing in ("file-missing", theirs.id):
        with pytest.raises(openai.BadRequestError) as refused:
            mine.batches.create(
                input_file_id=missing, endpoint="/v1/chat/completions", completion_window="24h"
            )
        error = refused.value.body
        assert error["type"] == "invalid_request_error"  # type: ignore[index]
        assert error["param"] == "input_file_id"  # type: ignore[index]
        assert missing in error["message"]  # type: ignore[index]
    assert [b.id for b in mine.batches.list()] == before
    notes = client.files.create(file=("n.txt", b"x"), purpose="user_data")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        client.batches.create(
            input_file_id=notes.id, endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_cancelling_a_batch(gateway):
    client = oai(gateway)
    lines = [chat_line(i, model="echo-wait") for i in range(400)]
    source = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    batch = wait(client, batch.id)
    assert batch.status == "cancelled" and batch.cancelled_at
    counts = batch.request_counts
    assert counts.total == 400 and counts.completed < 400
    assert counts.completed + counts.failed == 400
    errors = read_lines(client, batch.error_file_id)
    assert len(errors) == counts.failed
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    again = client.batches.cancel(batch.id)  # as OpenAI: a cancelled batch stays so
    assert again.status == "cancelled" and again.cancelled_at == batch.cancelled_at


def claude(gw: Gateway, key: str = MASTER_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def params(text: str, model: str = "echo") -> dict:
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}


def test_anthropic_message_batches(gateway, keys):
    client = claude(gateway, keys["echo"])
    requests = [{"custom_id": f"r-{i}", "params": params(f"hello {i}")} for i in range(4)]
    requests.append({"custom_id": "bad", "params": {**params("x"), "max_tokens": -1}})
    made = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert made.id.startswith("msgbatch_") and made.type == "message_batch"
    assert made.processing_status == "in_progress" and made.request_counts.processing == 5
    deadline = time.monotonic() + 30
    while (batch := client.messages.batches.retrieve(made.id)).processing_status != "ended":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch.request_counts.succeeded == 4 and batch.request_counts.errored == 1
    assert batch.ended_at and batch.results_url.endswith(f"/v1/messages/batches/{made.id}/results")
    results = {r.custom_id: r.result for r in client.messages.batches.results(made.id)}
    assert len(results) == 5
    for i in range(4):
        result = results[f"r-{i}"]
        assert result.type == "succeeded"
        assert result.message.content[0].text == f"Echo: hello {i}"  # type: ignore[union-attr]
    assert results["bad"].type == "errored"
    assert results["bad"].error.error.type == "invalid_request_error"  # type: ignore[union-attr]
    assert made.id in [b.id for b in client.messages.batches.list()]
    assert made.id not in [b.id for b in claude(gateway, keys["other"]).messages.batches.list()]
    with pytest.raises(anthropic.NotFoundError):
        claude(gateway, keys["other"]).messages.batches.retrieve(made.id)
    ended = client.messages.batches.cancel(made.id)  # an ended batch stays as it is
    assert ended.processing_status == "ended" and ended.cancel_initiated_at is None
    assert client.messages.batches.delete(made.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(made.id)


def test_anthropic_cancel_and_errors(gateway, keys):
    client = claude(gateway)
    requests = [{"custom_id": f"r{i}", "params": params("x", "echo-wait")} for i in range(300)]
    made = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError, match="cancel it first"):
        client.messages.batches.delete(made.id)
    assert client.messages.batches.cancel(made.id).processing_status == "canceling"
    deadline = time.monotonic() + 30
    while (batch := client.messages.batches.retrieve(made.id)).processing_status != "ended":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    counts = batch.request_counts
    assert counts.canceled > 0 and counts.succeeded + counts.canceled == 300
    kinds = {r.result.type for r in client.messages.batches.results(made.id)}
    assert "canceled" in kinds
    for bad, message in (
        ([{"custom_id": "has space", "params": params("x")}], "custom_id"),
        ([{"custom_id": "a", "params": params("x")}] * 2, "not unique"),
        ([{"custom_id": "a", "params": params("x", "echo-slow")}], "may not use"),
    ):
        with pytest.raises(anthropic.APIStatusError, match=message) as refused:
            claude(gateway, keys["echo"]).messages.batches.create(requests=bad)  # type: ignore[arg-type]
        assert refused.value.body["type"] == "error"  # type: ignore[index]


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
def test_the_batches_page(gateway, keys):
    """Admins see every key's batches with progress, cancel a running one and download
    results; a member may not open the page. Screenshots at 1440 and 390 px."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    from tests.screenshots import screenshot_dir

    gateway.shell(
        "from django.contrib.auth.models import User; "
        "User.objects.create_superuser('ops', '', 'pw-123456789'); "
        "u = User.objects.create_user('viewer1', '', 'pw-123456789'); "
        "from gateway.models import Profile; Profile.objects.update_or_create(user=u, defaults={'role': 'member'})"
    )
    client = oai(gateway, keys["other"])
    lines = [chat_line(i, model="echo-slow") for i in range(3)]
    source = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    finished = wait(client, client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h").id)  # fmt: skip
    broken = client.files.create(file=("bad.jsonl", b"{not json\n"), purpose="batch")
    failed = client.batches.create(
        input_file_id=broken.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    slow = [chat_line(i, model="echo-hold") for i in range(120)]  # 60 s at 4 at a time
    source = oai(gateway).files.create(file=("slow.jsonl", jsonl(slow)), purpose="batch")
    running = oai(gateway).batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    folder = screenshot_dir()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, base_url=gateway.url, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/login/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", "pw-123456789")
        page.click("button[type=submit]")
        page.goto("/batches/")
        row = page.locator("tr", has_text=finished.id)
        assert "completed" in row.inner_text() and "3/3" in row.inner_text()
        assert "other" in row.inner_text()
        with page.expect_download() as download:
            row.get_by_role("link", name="Output").click()
        output = Path(download.value.path()).read_text().splitlines()
        assert sorted(json.loads(x)["custom_id"] for x in output) == ["q0", "q1", "q2"]
        problem = page.locator("tr", has_text=failed.id)
        assert "failed" in problem.inner_text()
        assert "line 1: This line is not parseable as valid JSON." in problem.inner_text()
        page.reload()  # as a visitor sees it (the download's click scrolled the table)
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=str(folder / "batches-1440.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(folder / "batches-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways page
        page.set_viewport_size({"width": 1440, "height": 900})
        page.locator("tr", has_text=running.id).get_by_role("button", name="Cancel").click()
        page.wait_for_url("**/batches/")
        assert wait(oai(gateway), running.id).status == "cancelled"
        page.reload()
        assert "cancelled" in page.locator("tr", has_text=running.id).inner_text()
        assert not errors, errors
        member = browser.new_context(base_url=gateway.url).new_page()
        member.goto("/login/")
        member.fill("#id_username", "viewer1")
        member.fill("#id_password", "pw-123456789")
        member.click("button[type=submit]")
        assert member.goto("/batches/").status == 403
        browser.close()
