"""Batches on routes whose upstream has a batch API go there: through the official
SDKs against a running gateway whose upstreams are the mock upstream's OpenAI Files +
Batch API, Anthropic Message Batches (``mock_batches``) and Gemini's batch mode
(``mock_gemini_batches``), as strict as the services.
The upstream receives one native batch (models rewritten to the deployment's), the
caller gets its own custom_ids back, each line costs half its tokens' price and is
journaled (a batch on a Gemini route goes to Gemini translated, its results back in
the caller's format), a cancel is forwarded, ``batch_mode`` gateway runs the lines here
and ``native`` refuses what cannot go up, a restarted server resumes polling, a Message
Batch whose submission's answer was lost (or whose gateway was killed meanwhile) is
found upstream rather than sent twice, and a budgeted key's native batches hold their
estimated cost until their results are priced."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests import aws
from tests.integration.mock_bedrock_batch import MockBedrockBatch
from tests.integration.mock_upstream import MockUpstream
from tests.live import MASTER_KEY, Gateway, running_gateway

DONE = ("completed", "failed", "expired", "cancelled")
BUCKET = "bedrock-batches"  # the moto bucket of the Bedrock batch fixtures (tests/conftest.py)
# 10 input and 5 output tokens a line (the mock's usage), at half these prices
GPT_PRICES = (Decimal("2"), Decimal("8"))
CLAUDE_PRICES = (Decimal("3"), Decimal("15"))
GEMINI_PRICES = (Decimal("0.3"), Decimal("2.5"))
# each worker reads the registry's version this often (default 1 s) and its journal
# writes this often (default 0.5 s): the tests wait for both after a change or a batch
FAST = {"SWITCHYARD_REGISTRY_POLL_SECONDS": "0.1", "SWITCHYARD_JOURNAL_FLUSH_SECONDS": "0.05"}
REGISTRY_SETTLE = 0.5  # a poll and a rebuild in every worker (was 1.5 s at a 1 s poll)


def line_cost(prices: tuple[Decimal, Decimal]) -> Decimal:
    return (10 * prices[0] + 5 * prices[1]) / 1_000_000 / 2


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


def bedrock_code(control: str, s3: str) -> str:
    """A Bedrock provider whose batch inference is the mock control plane and S3."""
    settings = {
        "aws_region_name": aws.REGION,
        "aws_access_key_id": aws.ACCESS_KEY,
        "batch_s3_uri": "s3://bedrock-batches/switchyard/jobs",
        "batch_role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
        "batch_min_records": "2",
        "aws_bedrock_endpoint": control,
        "batch_s3_endpoint": s3,
    }
    return (
        "from decimal import Decimal; from gateway.models import Deployment, Provider, Route\n"
        f"bed = Provider(name='bed-up', kind='bedrock', settings={settings!r}); "
        f"bed.set_secret({aws.SECRET_KEY!r}); bed.save()\n"
        "route = Route.objects.create(name='claude-bedrock', batch_mode='auto')\n"
        "Deployment.objects.create(route=route, provider=bed, model="
        "'anthropic.claude-3-haiku-20240307-v1:0', input_price=Decimal('3'), "
        "output_price=Decimal('15'))\n"
    )


def setup_code(url: str) -> str:
    return (
        "from decimal import Decimal; from gateway.models import Deployment, Provider, Route\n"
        f"oai = Provider(name='oai-up', kind='openai', base_url='{url}/v1', "
        "settings={'native_batches': 'on'}); oai.set_secret('sk-upstream-openai'); oai.save()\n"
        f"ant = Provider(name='ant-up', kind='anthropic', base_url='{url}'); "
        "ant.set_secret('sk-upstream-anthropic'); ant.save()\n"
        f"az = Provider(name='az-up', kind='azure', base_url='{url}', api_version='2024-10-21', "
        "settings={'native_batches': 'on'}); az.set_secret('azure-key'); az.save()\n"
        f"gem = Provider(name='gem-up', kind='gemini', base_url='{url}'); "
        "gem.set_secret('gemini-upstream-key'); gem.save()\n"
        "for name, provider, model, prices, mode in ("
        " ('gpt-azure', az, 'my-global-batch', ('2', '8'), 'auto'),"
        " ('gpt-b', oai, 'up-gpt', ('2', '8'), 'auto'),"
        " ('gpt-here', oai, 'up-gpt', ('2', '8'), 'gateway'),"
        " ('claude-b', ant, 'up-claude', ('3', '15'), 'auto'),"
        " ('gemini-b', gem, 'gemini-2.5-flash', ('0.3', '2.5'), 'auto'),"
        " ('echo-native', Provider.objects.get(name='echo'), 'echo', ('0', '0'), 'native')):\n"
        "    route = Route.objects.create(name=name, batch_mode=mode)\n"
        "    Deployment.objects.create(route=route, provider=provider, model=model,"
        " input_price=Decimal(prices[0]), output_price=Decimal(prices[1]))\n"
        "Route.objects.filter(name='gpt-b').update(default_params={'temperature': 0.2})\n"
    )


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory, mock: MockUpstream, control: MockBedrockBatch, s3: str
) -> Iterator[Gateway]:
    folder: Path = tmp_path_factory.mktemp("native-batches")
    env = {"SWITCHYARD_BATCH_POLL_SECONDS": "0.1", "SWITCHYARD_BATCH_LEASE_SECONDS": "2", **FAST}
    with running_gateway(folder, env, workers=2) as gw:  # more than one process
        gw.shell(setup_code(mock.url))
        gw.shell(bedrock_code(control.url, s3))
        time.sleep(REGISTRY_SETTLE)  # the registry picks the new routes up
        yield gw


def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)


def chat_lines(model: str, n: int) -> bytes:
    return "\n".join(
        json.dumps({"custom_id": f"mine-{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}})
        for i in range(n)
    ).encode()  # fmt: skip


def wait(client: openai.OpenAI, batch_id: str, seconds: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while (batch := client.batches.retrieve(batch_id)).status not in DONE:
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    return batch


def console_batches(gw: Gateway) -> str:
    """The console's Batches page, as an admin sees it."""
    gw.shell(
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='batch-admin').exists() or "
        "User.objects.create_superuser('batch-admin', '', 'pw-123456789')"
    )
    with httpx.Client(base_url=gw.url, follow_redirects=True) as browser:
        login = browser.get("/login/")
        token = browser.cookies["csrftoken"]
        browser.post(
            "/login/",
            data={"username": "batch-admin", "password": "pw-123456789",
                  "csrfmiddlewaretoken": token},
            headers={"Referer": f"{gw.url}/login/"},
        )  # fmt: skip
        assert login.status_code == 200
        return browser.get("/batches/").text


def journal_rows(gw: Gateway, batch_id: str) -> list[dict]:
    code = (
        "import json; from gateway.models import RequestLog; print(json.dumps([dict(route=r.route, "
        "status=r.status, cost=str(r.cost_usd), model=r.upstream_model, ua=r.user_agent) for r in "
        f"RequestLog.objects.filter(session='{batch_id}')]))"
    )
    deadline = time.monotonic() + 10
    while True:
        rows = json.loads(gw.shell(code).strip().splitlines()[-1])
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def ended_message_batch(
    gateway: Gateway, model: str, system: str | None = None
) -> tuple[anthropic.Anthropic, Any, list[dict[str, Any]]]:
    """Two Message Batch requests to ``model`` through the ``anthropic`` SDK, waited
    for until the batch ends: the client, the ended batch and the requests sent."""
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    requests: list[dict[str, Any]] = [
        {
            "custom_id": f"ask-{i}",
            "params": {
                "model": model,
                "max_tokens": 50,
                **({"system": system} if system else {}),
                "messages": [{"role": "user", "content": f"hello {i}"}],
            },
        }
        for i in range(2)
    ]
    made = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    deadline = time.monotonic() + 20
    while (state := client.messages.batches.retrieve(made.id)).processing_status != "ended":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    return client, state, requests


def test_openai_batch_goes_to_the_upstreams_batch_api(gateway: Gateway, mock: MockUpstream) -> None:
    mock.batches.delay = 0.5
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 3)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == 3 and done.request_counts.failed == 0
    # the upstream got one native batch: its input file, models rewritten
    [(upstream_id, upstream)] = list(mock.batches.batches.items())
    assert [line["custom_id"] for line in upstream["lines"]] == ["mine-0", "mine-1", "mine-2"]
    assert {line["body"]["model"] for line in upstream["lines"]} == {"up-gpt"}
    assert {line["body"]["temperature"] for line in upstream["lines"]} == {0.2}  # the route's
    assert upstream["metadata"] == {"switchyard_batch": batch.id}
    assert not [s for s in mock.chat_requests()]  # no line went through chat completions
    assert ("DELETE", f"/v1/files/{upstream['input_file_id']}") in mock.batches.calls
    # the caller's results, under its custom_ids
    assert done.output_file_id and not done.error_file_id
    out = [json.loads(t) for t in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["mine-0", "mine-1", "mine-2"]
    assert out[1]["response"]["body"]["choices"][0]["message"]["content"] == "batched: q1"
    # priced at the batch price, one journal row a line
    rows = journal_rows(gateway, batch.id)
    assert len(rows) == 3, rows
    assert {Decimal(r["cost"]) for r in rows} == {line_cost(GPT_PRICES)}
    assert {(r["route"], r["model"], r["status"], r["ua"]) for r in rows} == {
        ("gpt-b", "up-gpt", 200, "switchyard-batch")
    }


def test_an_upstream_away_for_a_while_is_waited_out(gateway: Gateway, mock: MockUpstream) -> None:
    mock.reset()
    mock.batches.failures = [503, 502]  # the upload, then its retry, refused
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 2)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 2
    assert len(mock.batches.batches) == 1
    assert [c for c in mock.batches.calls if c == ("POST", "/v1/files")] == [
        ("POST", "/v1/files")
    ] * 3


def test_azure_batch_goes_to_its_global_batch_deployment(
    gateway: Gateway, mock: MockUpstream
) -> None:
    mock.reset()
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-azure", 2)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 2
    [upstream] = list(mock.batches.batches.values())
    assert upstream["endpoint"] == "/chat/completions"  # Azure's name, without /v1
    assert {line["body"]["model"] for line in upstream["lines"]} == {"my-global-batch"}
    assert ("POST", "/openai/files") in mock.batches.calls
    assert {s.headers.get("api-key") for s in mock.seen if s.path.startswith("/openai/")} == {
        "azure-key"
    }
    assert {Decimal(r["cost"]) for r in journal_rows(gateway, batch.id)} == {line_cost(GPT_PRICES)}


def test_a_batch_made_whose_answer_was_lost_is_found_not_made_twice(
    gateway: Gateway, mock: MockUpstream
) -> None:
    mock.reset()
    mock.batches.lose_answer = ("POST", "/v1/batches")
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 2)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 2
    assert len(mock.batches.batches) == 1  # made once, found by its input file
    assert ("GET", "/v1/batches") in mock.batches.calls


def test_gateway_mode_runs_the_lines_here(gateway: Gateway, mock: MockUpstream) -> None:
    mock.reset()
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-here", 2)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert wait(client, batch.id).status == "completed"
    assert not mock.batches.batches
    assert len(mock.chat_requests()) == 2


def test_batches_upstreams_run_leave_room_for_gateway_run_ones(
    gateway: Gateway, mock: MockUpstream
) -> None:
    mock.reset()
    mock.batches.delay = 60
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 1)), purpose="batch")
    slow = [
        client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for _ in range(9)  # more than two processes run gateway batches at once (2 x 4)
    ]
    deadline = time.monotonic() + 10
    while len(mock.batches.batches) < 9:
        assert time.monotonic() < deadline, mock.batches.batches
        time.sleep(0.05)
    here = client.files.create(file=("in.jsonl", chat_lines("gpt-here", 1)), purpose="batch")
    batch = client.batches.create(
        input_file_id=here.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert wait(client, batch.id).status == "completed"
    for waiting in slow:
        client.batches.cancel(waiting.id)
    for waiting in slow:
        assert wait(client, waiting.id).status == "cancelled"
    mock.batches.delay = 0.5


def test_native_mode_refuses_what_cannot_go_up(gateway: Gateway) -> None:
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("echo-native", 1)), purpose="batch")
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert "echo-native" in str(caught.value) and "batch_mode native" in str(caught.value)


def test_openai_cancel_is_forwarded(gateway: Gateway, mock: MockUpstream) -> None:
    mock.reset()
    mock.batches.delay = 30
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 2)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    deadline = time.monotonic() + 10
    while not mock.batches.batches:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = console_batches(gateway)  # the console marks it as run upstream
    assert "upstream" in page and list(mock.batches.batches)[0] in page
    client.batches.cancel(batch.id)
    done = wait(client, batch.id)
    assert done.status == "cancelled"
    [upstream_id] = list(mock.batches.batches)
    assert ("POST", f"/v1/batches/{upstream_id}/cancel") in mock.batches.calls
    errors = [json.loads(t) for t in client.files.content(done.error_file_id).text.splitlines()]
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    mock.batches.delay = 0.5


def test_anthropic_message_batch_goes_native(gateway: Gateway, mock: MockUpstream) -> None:
    mock.reset()
    client, made, _ = ended_message_batch(gateway, "claude-b")
    assert made.request_counts.succeeded == 2
    [upstream] = list(mock.batches.message_batches.values())
    assert [r["params"]["model"] for r in upstream["requests"]] == ["up-claude", "up-claude"]
    seen = [s for s in mock.seen if s.path == "/v1/messages/batches"]
    assert seen[0].headers["x-api-key"] == "sk-upstream-anthropic"
    results = {r.custom_id: r.result for r in client.messages.batches.results(made.id)}
    assert results["ask-1"].type == "succeeded"
    assert results["ask-1"].message.content[0].text == "batched: hello 1"
    rows = journal_rows(gateway, made.id)
    assert len(rows) == 2
    assert {Decimal(r["cost"]) for r in rows} == {line_cost(CLAUDE_PRICES)}


def test_anthropic_cancel_is_forwarded(gateway: Gateway, mock: MockUpstream) -> None:
    mock.reset()
    mock.batches.delay = 30
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    made = client.messages.batches.create(
        requests=[
            {
                "custom_id": "c1",
                "params": {
                    "model": "claude-b",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "x"}],
                },
            }
        ]  # fmt: skip
    )
    deadline = time.monotonic() + 10
    while not mock.batches.message_batches:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.messages.batches.cancel(made.id)
    while (state := client.messages.batches.retrieve(made.id)).processing_status != "ended":
        assert time.monotonic() < deadline + 10, state
        time.sleep(0.1)
    assert state.request_counts.canceled == 1
    [upstream_id] = list(mock.batches.message_batches)
    assert ("POST", f"/v1/messages/batches/{upstream_id}/cancel") in mock.batches.calls
    mock.batches.delay = 0.5


def test_route_api_shows_and_checks_batch_mode(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    routes = httpx.get(f"{gateway.url}/api/routes/", headers=headers).json()
    modes = {r["name"]: r["batch_mode"] for r in routes}
    assert modes["gpt-here"] == "gateway" and modes["echo"] == "auto"
    route_id = next(r["id"] for r in routes if r["name"] == "echo")
    bad = httpx.patch(
        f"{gateway.url}/api/routes/{route_id}", json={"batch_mode": "sometimes"}, headers=headers
    )
    assert bad.status_code == 422 and "batch_mode" in bad.text


def budgeted_key(gw: Gateway, name: str, routes: list[str], budget: str) -> str:
    made = httpx.post(
        f"{gw.url}/api/keys/",
        json={"name": name, "routes": routes, "budget_usd": budget},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )
    assert made.status_code in (200, 201), made.text
    time.sleep(REGISTRY_SETTLE)  # the registry picks the key up
    return str(made.json()["key"])


def sized_chat_lines(model: str, n: int, max_tokens: int) -> bytes:
    return "\n".join(
        json.dumps({"custom_id": f"mine-{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": model, "max_tokens": max_tokens,
                             "messages": [{"role": "user", "content": f"q{i}"}]}})
        for i in range(n)
    ).encode()  # fmt: skip


def message_requests(n: int, max_tokens: int = 50, prefix: str = "ask") -> list[dict]:
    return [
        {"custom_id": f"{prefix}-{i}",
         "params": {"model": "claude-b", "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": f"hello {i}"}]}}
        for i in range(n)
    ]  # fmt: skip


def wait_ended(client: anthropic.Anthropic, batch_id: str, seconds: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while (state := client.messages.batches.retrieve(batch_id)).processing_status != "ended":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    return state


def test_native_batches_hold_the_keys_budget_until_their_results(
    gateway: Gateway, mock: MockUpstream
) -> None:
    """20 lines of at most 5 output tokens hold about $0.00056 (8 prompt tokens
    estimated, 5 out, at half of $2/$8 per M) and really cost $0.0006 (the mock's 10 in,
    5 out): a second such batch fits in $0.001 neither beside the first's hold nor
    beside its real cost."""
    mock.reset()
    mock.batches.delay = 2
    key = budgeted_key(gateway, "batcher", ["gpt-b", "echo"], "0.001")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    source = client.files.create(
        file=("in.jsonl", sized_chat_lines("gpt-b", 20, 5)), purpose="batch"
    )

    def create() -> Any:
        return client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )

    first = create()
    with pytest.raises(openai.RateLimitError) as held:
        create()  # does not fit beside the first batch's hold
    error = held.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "budget_exceeded"), error
    assert "batch price" in error["message"]
    assert wait(client, first.id).status == "completed"
    rows = journal_rows(gateway, first.id)
    assert sum(Decimal(r["cost"]) for r in rows) == 20 * line_cost(GPT_PRICES)  # $0.0006
    with pytest.raises(openai.RateLimitError):
        create()  # the hold is gone, but the real spend is counted: still no room
    assert len(mock.batches.batches) == 1  # the refused ones never went up
    # and a request sees the spend too (its worst case well under what is left: it runs)
    client.chat.completions.create(
        model="echo", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    mock.batches.delay = 0.5


def test_a_cancelled_native_batch_gives_its_hold_back(gateway: Gateway, mock: MockUpstream) -> None:
    """Two lines of up to 1000 output tokens hold about $0.015 of $0.02 (at half of
    $15 per M): one more line does not fit until the batch is cancelled."""
    mock.reset()
    mock.batches.delay = 30
    key = budgeted_key(gateway, "messages-batcher", ["claude-b"], "0.02")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    made = client.messages.batches.create(requests=message_requests(2, 1000))
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.batches.create(requests=message_requests(1, 1000))
    body = refused.value.response.json()  # Anthropic's envelope
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error", body
    assert "budget" in body["error"]["message"]
    client.messages.batches.cancel(made.id)
    assert wait_ended(client, made.id).request_counts.canceled == 2
    deadline = time.monotonic() + 10
    while True:  # the hold is given back as the runner ends the batch
        try:
            later = client.messages.batches.create(requests=message_requests(1, 1000))
            break
        except anthropic.RateLimitError:
            assert time.monotonic() < deadline, "the cancelled batch's hold was never given back"
            time.sleep(0.2)
    client.messages.batches.cancel(later.id)
    wait_ended(client, later.id)
    mock.batches.delay = 0.5


def foreign_message_batch(mock: MockUpstream, n: int) -> str:
    """A batch someone else (another client of the same workspace) made upstream."""
    answer = httpx.post(
        f"{mock.url}/v1/messages/batches",
        json={"requests": message_requests(n, prefix="theirs")},
        headers={"x-api-key": "someone-else", "anthropic-version": "2023-06-01"},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def ours(mock: MockUpstream, batch_id: str) -> list[str]:
    """The upstream batches made for our batch ``batch_id`` (their custom_ids say so)."""
    return [
        upstream_id
        for upstream_id, made in mock.batches.message_batches.items()
        if all(r["custom_id"].startswith(batch_id + "-") for r in made["requests"])
    ]


def check_results(client: anthropic.Anthropic, batch_id: str) -> None:
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch_id)}
    assert sorted(results) == ["ask-0", "ask-1"]
    assert results["ask-1"].type == "succeeded"
    assert results["ask-1"].message.content[0].text == "batched: hello 1"


def test_a_message_batch_whose_answer_was_lost_is_found_not_made_twice(
    gateway: Gateway, mock: MockUpstream
) -> None:
    """The POST made the batch but its answer never came: the upstream's batches of the
    same size since the mark are watched until their results say whose they are; ours
    is adopted, the other client's (same size, same minute) left alone."""
    mock.reset()
    theirs = foreign_message_batch(mock, 2)
    mock.batches.lose_answer = ("POST", "/v1/messages/batches")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    made = client.messages.batches.create(requests=message_requests(2))
    assert wait_ended(client, made.id).request_counts.succeeded == 2
    check_results(client, made.id)
    assert len(ours(mock, made.id)) == 1 and len(mock.batches.message_batches) == 2
    assert ("GET", "/v1/messages/batches") in mock.batches.calls
    assert ("POST", f"/v1/messages/batches/{theirs}/cancel") not in mock.batches.calls
    assert [r["ua"] for r in journal_rows(gateway, made.id)] == ["switchyard-batch"] * 2


def test_a_message_batch_never_made_is_sent_again_and_nobody_elses_adopted(
    gateway: Gateway, mock: MockUpstream
) -> None:
    """The POST failed (a 503: nothing made, but the gateway cannot know that): another
    client's batch of the same size is watched, found not ours, and ours is sent."""
    mock.reset()
    theirs = foreign_message_batch(mock, 2)
    mock.batches.failures = [503]
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    made = client.messages.batches.create(requests=message_requests(2))
    assert wait_ended(client, made.id).request_counts.succeeded == 2
    check_results(client, made.id)
    assert len(ours(mock, made.id)) == 1 and len(mock.batches.message_batches) == 2
    assert ("POST", f"/v1/messages/batches/{theirs}/cancel") not in mock.batches.calls


def kill_hard(gw: Gateway) -> None:
    """SIGKILL the server's workers, then the server (a killed supervisor alone leaves
    its worker running: the one waiting for the answer)."""
    pid = gw.process.pid
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    gw.process.kill()
    gw.process.wait()


@pytest.mark.timeout(180)  # two servers started one after the other
def test_a_gateway_killed_mid_submission_does_not_submit_twice(
    tmp_path: Path, mock: MockUpstream
) -> None:
    """Killed after the POST reached the upstream, before its answer (the id) was
    saved: the restarted gateway finds the batch upstream and never sends another."""
    mock.reset()
    mock.batches.stall_answer = ("POST", "/v1/messages/batches")
    env = {"SWITCHYARD_BATCH_POLL_SECONDS": "0.1", "SWITCHYARD_BATCH_LEASE_SECONDS": "1", **FAST}
    with running_gateway(tmp_path, env) as first:
        first.shell(setup_code(mock.url))
        time.sleep(REGISTRY_SETTLE)
        client = anthropic.Anthropic(base_url=first.url, api_key=MASTER_KEY, max_retries=0)
        made = client.messages.batches.create(requests=message_requests(2))
        assert mock.batches.stalled.wait(15)  # made upstream; the answer is held back
        kill_hard(first)  # no goodbye: the id is never saved
        mock.batches.unstall.set()
        row = first.shell(
            "from gateway.models import Batch; "
            f"b = Batch.objects.get(id='{made.id}'); "
            "print(repr(b.upstream_batch_id), b.submitting_at is not None)"
        )
        assert row.strip().splitlines()[-1] == "'' True"
    assert len(mock.batches.message_batches) == 1
    # the client is closed before the server stops: a draining server closes a kept-alive
    # connection only after the keep-alive timeout, then waits for the client's FIN (7 s)
    with (
        running_gateway(tmp_path, env, seed=False) as second,
        anthropic.Anthropic(base_url=second.url, api_key=MASTER_KEY, max_retries=0) as client,
    ):
        assert wait_ended(client, made.id).request_counts.succeeded == 2
        check_results(client, made.id)
    assert len(mock.batches.message_batches) == 1  # found, never submitted twice
    assert ours(mock, made.id) == list(mock.batches.message_batches)


def test_polling_resumes_after_a_restart(tmp_path: Path, mock: MockUpstream) -> None:
    mock.reset()
    mock.batches.delay = 60
    env = {"SWITCHYARD_BATCH_POLL_SECONDS": "0.1", "SWITCHYARD_BATCH_LEASE_SECONDS": "1", **FAST}
    with running_gateway(tmp_path, env) as first:
        first.shell(setup_code(mock.url))
        time.sleep(REGISTRY_SETTLE)
        client = oai(first)
        source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 2)), purpose="batch")
        batch = client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        deadline = time.monotonic() + 10
        while not mock.batches.batches:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.process.kill()  # no goodbye: the lease is left behind
        first.process.wait()
    [upstream] = list(mock.batches.batches.values())
    upstream["created"] -= 60  # the upstream batch has ended meanwhile
    with running_gateway(tmp_path, env, seed=False) as second:
        done = wait(oai(second), batch.id)
    assert done.status == "completed" and done.request_counts.completed == 2
    assert len(mock.batches.batches) == 1  # polled again, never submitted twice
    mock.batches.delay = 0.5


def test_openai_batch_on_a_gemini_route_goes_to_gemini_batch_mode(
    gateway: Gateway, mock: MockUpstream
) -> None:
    mock.reset()
    client = oai(gateway)
    source = client.files.create(file=("in.jsonl", chat_lines("gemini-b", 3)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 3, done
    [upstream] = list(mock.gemini_batches.batches.values())  # one native batch, inline
    assert upstream["model"] == "models/gemini-2.5-flash" and upstream["source"] == "inline"
    assert [key for key, _request in upstream["lines"]] == ["mine-0", "mine-1", "mine-2"]
    assert upstream["lines"][1][1]["contents"] == [{"role": "user", "parts": [{"text": "q1"}]}]
    assert not mock.chat_requests()
    out = [json.loads(t) for t in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["mine-0", "mine-1", "mine-2"]
    answer = out[1]["response"]["body"]
    assert answer["object"] == "chat.completion" and answer["model"] == "gemini-b"
    assert answer["choices"][0]["message"]["content"] == "batched: q1"
    rows = journal_rows(gateway, batch.id)
    assert len(rows) == 3 and {Decimal(r["cost"]) for r in rows} == {line_cost(GEMINI_PRICES)}
    assert {(r["route"], r["model"]) for r in rows} == {("gemini-b", "gemini-2.5-flash")}


def test_message_batch_on_a_gemini_route_goes_to_gemini_batch_mode(
    gateway: Gateway, mock: MockUpstream
) -> None:
    mock.reset()
    client, made, _ = ended_message_batch(gateway, "gemini-b")
    assert made.request_counts.succeeded == 2
    [upstream] = list(mock.gemini_batches.batches.values())
    assert upstream["lines"][0][1]["generationConfig"] == {"maxOutputTokens": 50}
    results = {r.custom_id: r.result for r in client.messages.batches.results(made.id)}
    assert results["ask-1"].type == "succeeded"
    assert results["ask-1"].message.content[0].text == "batched: hello 1"
    assert {Decimal(r["cost"]) for r in journal_rows(gateway, made.id)} == {
        line_cost(GEMINI_PRICES)
    }


# --- Bedrock batch inference -----------------------------------------------------------


def bucket_keys(s3: str) -> list[str]:
    import botocore.session

    from tests.s3_server import ACCESS_KEY, SECRET_KEY

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=s3,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )  # fmt: skip
    listed = client.list_objects_v2(Bucket="bedrock-batches")
    return [item["Key"] for item in listed.get("Contents") or []]


def test_openai_batch_goes_to_bedrock_batch_inference(
    gateway: Gateway, control: MockBedrockBatch, s3: str
) -> None:
    control.reset()
    control.lose_create_answer = True  # the job is made, its answer lost: made once still
    client = oai(gateway)
    lines = chat_lines("claude-bedrock", 3).replace(b"q2", b"please fail")
    source = client.files.create(file=("in.jsonl", lines), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == 2 and done.request_counts.failed == 1
    [job] = list(control.jobs.values())  # one job, though its answer was lost once
    assert job["modelId"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert job["modelInvocationType"] == "Converse"
    assert job["roleArn"] == "arn:aws:iam::123456789012:role/BedrockBatch"
    assert job["clientRequestToken"] == batch.id.replace("_", "-")
    assert [r["recordId"] for r in job["records"]] == ["00000000000", "00000000001", "00000000002"]
    first = job["records"][0]["modelInput"]
    assert first["messages"] == [{"role": "user", "content": [{"text": "q0"}]}]
    assert "modelId" not in first and "model" not in first
    # the caller's results, in chat completions' shape, under its custom_ids
    out = [json.loads(t) for t in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["mine-0", "mine-1"]
    answer = out[1]["response"]["body"]
    assert answer["object"] == "chat.completion" and answer["model"] == "claude-bedrock"
    assert answer["choices"][0]["message"]["content"] == "batched: q1"
    assert answer["usage"]["prompt_tokens"] == 10 and answer["usage"]["completion_tokens"] == 5
    errors = [json.loads(t) for t in client.files.content(done.error_file_id).text.splitlines()]
    assert [e["custom_id"] for e in errors] == ["mine-2"]
    assert "please fail" in json.dumps(errors[0])
    # half price, one journal row a line; the S3 objects are gone
    rows = journal_rows(gateway, batch.id)
    assert len(rows) == 3, rows
    good = [r for r in rows if r["status"] == 200]
    assert {Decimal(r["cost"]) for r in good} == {line_cost(CLAUDE_PRICES)} and len(good) == 2
    assert {r["route"] for r in rows} == {"claude-bedrock"}
    assert bucket_keys(s3) == []


def test_message_batch_goes_to_bedrock_and_cancel_stops_the_job(
    gateway: Gateway, control: MockBedrockBatch
) -> None:
    control.reset()
    client, made, requests = ended_message_batch(gateway, "claude-bedrock", "Be brief.")
    assert made.request_counts.succeeded == 2
    [job] = list(control.jobs.values())
    record = job["records"][1]["modelInput"]
    assert record["system"] == [{"text": "Be brief."}]
    assert record["inferenceConfig"]["maxTokens"] == 50
    results = {r.custom_id: r.result for r in client.messages.batches.results(made.id)}
    assert results["ask-1"].type == "succeeded"
    assert results["ask-1"].message.content[0].text == "batched: hello 1"
    assert results["ask-1"].message.usage.output_tokens == 5
    assert {Decimal(r["cost"]) for r in journal_rows(gateway, made.id)} == {
        line_cost(CLAUDE_PRICES)
    }
    # a cancel asked here stops the job
    control.reset()
    control.delay = 30
    slow = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    deadline = time.monotonic() + 20
    while not control.jobs:
        assert time.monotonic() < deadline, control.calls
        time.sleep(0.05)
    client.messages.batches.cancel(slow.id)
    while (state := client.messages.batches.retrieve(slow.id)).processing_status != "ended":
        assert time.monotonic() < deadline + 10, state
        time.sleep(0.1)
    assert state.request_counts.canceled == 2
    assert ("POST", "StopModelInvocationJob") in control.calls
    [job] = list(control.jobs.values())
    assert job["status"] == "Stopped"
    control.delay = 0.5
