"""Failover and cooldowns through a real server in DEFAULT settings (no cooldown or
retry variable set) with a mock upstream: a one-provider user must not lose their
model after a hiccup (issue #12), a misconfigured deployment fails at once without a
connection, an upstream that rejects the gateway's key is not the caller's 401, and a
route's timeout does not reach another route on the same provider."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

from .mock_upstream import MockUpstream, Reply

UNSET = "SWITCHYARD_LIVE_TEST_UNSET_KEY"
SECRET = "sk-live-failover-upstream-secret-0123"


def setup_code(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

def provider(name, base_url, secret):
    p = Provider(name=name, kind="openai", base_url=base_url)
    p.set_secret(secret)
    p.save()
    return p

up = provider("mock-openai", "{mock_url}/v1", "{SECRET}")
unset = provider("unset-openai", "{mock_url}/v1", "os.environ/{UNSET}")

def route(name, *providers, **fields):
    r = Route.objects.create(name=name, **fields)  # max_attempts: the default 3
    for p in providers:
        Deployment.objects.create(route=r, provider=p, model="up-gpt")

route("lone", up)
route("lone-anthropic-in", up)
route("misconfigured", unset)
route("misconfigured-with-sibling", unset, up)
route("rejected", up)
route("quick", up, timeout=0.5)
route("patient", up)
"""


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    server = MockUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: MockUpstream) -> Iterator[Gateway]:
    assert UNSET not in os.environ  # the misconfigured provider refers to it
    with running_gateway(
        tmp_path_factory.mktemp("failover"),
        setup=[["shell", "-c", setup_code(mock.url)]],
        seed=False,
    ) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def fresh(mock: MockUpstream) -> Iterator[None]:
    mock.reset()
    yield
    mock.reset()


def oa(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def an(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)


def hello(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def server_error() -> Reply:
    return Reply.failure(500, {"error": {"message": "upstream hiccup", "type": "server_error"}})


def test_a_lone_deployment_answers_again_right_after_a_500_burst(gw, mock) -> None:
    mock.queue(*[server_error() for _ in range(3)])
    with pytest.raises(openai.InternalServerError) as caught:
        oa(gw).chat.completions.create(**hello("lone"))
    assert caught.value.status_code == 502
    assert "upstream hiccup" in caught.value.body["message"]  # the upstream's own error
    assert caught.value.response.headers["x-switchyard-attempts"] == "3"
    # before issue #12: 503 no_healthy_deployment for the next 30 s
    answer = oa(gw).chat.completions.create(**hello("lone"))
    assert answer.choices[0].message.content == "Hello from the mock upstream."
    assert len(mock.chat_requests()) == 4


def test_a_lone_deployment_keeps_answering_anthropic_callers_after_failed_requests(
    gw, mock
) -> None:
    for _ in range(3):  # three failed requests, nine failed attempts
        mock.queue(*[server_error() for _ in range(3)])
        with pytest.raises(anthropic.InternalServerError) as caught:
            an(gw).messages.create(max_tokens=16, **hello("lone-anthropic-in"))
        assert caught.value.status_code == 502
        assert caught.value.body["error"]["type"] == "api_error"
    answer = an(gw).messages.create(max_tokens=16, **hello("lone-anthropic-in"))
    assert answer.content[0].text == "Hello from the mock upstream."


def test_a_misconfigured_deployment_fails_at_once_without_connecting(gw, mock) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        oa(gw).chat.completions.create(**hello("misconfigured"))
    assert time.monotonic() - started < 2  # no retries, no backoff
    assert caught.value.status_code == 500
    message = caught.value.body["message"]
    assert "unset-openai/up-gpt" in message and UNSET in message
    assert mock.chat_requests() == []
    with pytest.raises(anthropic.InternalServerError) as caught:
        an(gw).messages.create(max_tokens=16, **hello("misconfigured"))
    assert caught.value.status_code == 500 and UNSET in caught.value.body["error"]["message"]
    assert mock.chat_requests() == []


def test_a_misconfigured_deployment_fails_over_to_its_sibling(gw, mock) -> None:
    for _ in range(4):
        answer = oa(gw).chat.completions.create(**hello("misconfigured-with-sibling"))
        assert answer.choices[0].message.content == "Hello from the mock upstream."
    assert len(mock.chat_requests()) == 4
    assert all(s.headers["authorization"] == f"Bearer {SECRET}" for s in mock.chat_requests())


def test_an_upstream_401_is_a_502_naming_the_provider_not_the_callers_401(gw, mock) -> None:
    mock.queue(
        Reply.failure(401, {"error": {"message": "Incorrect API key", "type": "invalid_key"}})
    )
    with pytest.raises(openai.InternalServerError) as caught:
        oa(gw).chat.completions.create(**hello("rejected"))
    assert caught.value.status_code == 502
    assert (
        "upstream provider 'mock-openai' rejected the gateway's credentials (401)"
        in (caught.value.body["message"])
    )
    assert len(mock.chat_requests()) == 1  # not retried
    assert SECRET not in caught.value.response.text
    answer = oa(gw).chat.completions.create(**hello("rejected"))  # not cooled down
    assert answer.choices[0].message.content == "Hello from the mock upstream."


def test_a_route_timeout_does_not_shorten_another_route_on_the_same_provider(gw, mock) -> None:
    mock.default = lambda seen: Reply(text="late", delay=1.5)
    with pytest.raises(openai.APIStatusError) as caught:
        oa(gw).chat.completions.create(**hello("quick"))  # timeout 0.5 s, three attempts
    assert caught.value.status_code == 504
    mock.reset()
    mock.default = lambda seen: Reply(text="worth the wait", delay=1.5)
    answer = oa(gw).chat.completions.create(**hello("patient"))
    assert answer.choices[0].message.content == "worth the wait"


def test_no_traceback_in_the_server_log(gw) -> None:
    assert "Traceback" not in gw.log(), gw.log()[-4000:]
    assert SECRET not in gw.log()
