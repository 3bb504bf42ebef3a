"""Batches on routes whose upstream has a batch API go there: through the official
SDKs against a running gateway whose upstreams are the mock upstream's OpenAI Files +
Batch API and Anthropic Message Batches (``mock_batches``, as strict as the services).
The upstream receives one native batch (models rewritten to the deployment's), the
caller gets its own custom_ids back, each line costs half its tokens' price and is
journaled, a cancel is forwarded, ``batch_mode`` gateway runs the lines here and
``native`` refuses what cannot go up, and a restarted server resumes polling."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.integration.mock_upstream import MockUpstream
from tests.live import MASTER_KEY, Gateway, running_gateway

DONE = ("completed", "failed", "expired", "cancelled")
# 10 input and 5 output tokens a line (the mock's usage), at half these prices
GPT_PRICES = (Decimal("2"), Decimal("8"))
CLAUDE_PRICES = (Decimal("3"), Decimal("15"))


def line_cost(prices: tuple[Decimal, Decimal]) -> Decimal:
    return (10 * prices[0] + 5 * prices[1]) / 1_000_000 / 2


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


def setup_code(url: str) -> str:
    return (
        "from decimal import Decimal; from gateway.models import Deployment, Provider, Route\n"
        f"oai = Provider(name='oai-up', kind='openai', base_url='{url}/v1', "
        "settings={'native_batches': 'on'}); oai.set_secret('sk-upstream-openai'); oai.save()\n"
        f"ant = Provider(name='ant-up', kind='anthropic', base_url='{url}'); "
        "ant.set_secret('sk-upstream-anthropic'); ant.save()\n"
        f"az = Provider(name='az-up', kind='azure', base_url='{url}', api_version='2024-10-21', "
        "settings={'native_batches': 'on'}); az.set_secret('azure-key'); az.save()\n"
        "for name, provider, model, prices, mode in ("
        " ('gpt-azure', az, 'my-global-batch', ('2', '8'), 'auto'),"
        " ('gpt-b', oai, 'up-gpt', ('2', '8'), 'auto'),"
        " ('gpt-here', oai, 'up-gpt', ('2', '8'), 'gateway'),"
        " ('claude-b', ant, 'up-claude', ('3', '15'), 'auto'),"
        " ('echo-native', Provider.objects.get(name='echo'), 'echo', ('0', '0'), 'native')):\n"
        "    route = Route.objects.create(name=name, batch_mode=mode)\n"
        "    Deployment.objects.create(route=route, provider=provider, model=model,"
        " input_price=Decimal(prices[0]), output_price=Decimal(prices[1]))\n"
        "Route.objects.filter(name='gpt-b').update(default_params={'temperature': 0.2})\n"
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, mock: MockUpstream) -> Iterator[Gateway]:
    folder: Path = tmp_path_factory.mktemp("native-batches")
    env = {"SWITCHYARD_BATCH_POLL_SECONDS": "0.1", "SWITCHYARD_BATCH_LEASE_SECONDS": "2"}
    with running_gateway(folder, env, workers=2) as gw:  # more than one process
        gw.shell(setup_code(mock.url))
        time.sleep(1.5)  # the registry picks the new routes up
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
        time.sleep(0.3)


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
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    made = client.messages.batches.create(
        requests=[
            {
                "custom_id": f"ask-{i}",
                "params": {
                    "model": "claude-b",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": f"hello {i}"}],
                },
            }
            for i in range(2)
        ]  # fmt: skip
    )
    deadline = time.monotonic() + 20
    while (state := client.messages.batches.retrieve(made.id)).processing_status != "ended":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    assert state.request_counts.succeeded == 2
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


def test_native_spend_counts_against_the_keys_budget(gateway: Gateway, mock: MockUpstream) -> None:
    mock.reset()
    made = httpx.post(
        f"{gateway.url}/api/keys/",
        json={"name": "batcher", "routes": ["gpt-b", "echo"], "budget_usd": "0.0005"},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )
    key = made.json()["key"]
    time.sleep(1.5)  # the registry picks the key up
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    # a request first: the key's spend is loaded from the journal now, then counted
    client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    source = client.files.create(file=("in.jsonl", chat_lines("gpt-b", 20)), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert wait(client, batch.id).status == "completed"  # 20 x $0.00003 at the batch price
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert "budget" in str(caught.value)


def test_polling_resumes_after_a_restart(tmp_path: Path, mock: MockUpstream) -> None:
    mock.reset()
    mock.batches.delay = 60
    env = {"SWITCHYARD_BATCH_POLL_SECONDS": "0.1", "SWITCHYARD_BATCH_LEASE_SECONDS": "1"}
    with running_gateway(tmp_path, env) as first:
        first.shell(setup_code(mock.url))
        time.sleep(1.5)
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
