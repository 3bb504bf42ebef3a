"""Faults at scale (issue #25) through real servers and a mock upstream, in default
settings unless named:

- a deployment that cuts every stream after its first bytes is cooled, its sibling
  takes the traffic;
- ``serve --workers 2``: a dead deployment costs a handful of failed requests for the
  whole server, not a few per worker;
- a route's retry budget: a failing upstream under load is not hit three times per
  request;
- an upstream 404 on a lone deployment is a 404 the official SDKs raise as their
  ``NotFoundError``, naming provider and model; an upstream 401 stays a 502.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.live import MASTER_KEY, Gateway, running_gateway

from .mock_upstream import MockUpstream, Reply, Seen

SECRET = "sk-faults-upstream-secret-0123456789"
LONG = "A long answer that the cutting upstream never finishes. " * 4


def setup_code(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

p = Provider(name="mock-openai", kind="openai", base_url="{mock_url}/v1")
p.set_secret("{SECRET}")
p.save()

def route(name, *models, **fields):
    r = Route.objects.create(name=name, **fields)
    for model in models:
        Deployment.objects.create(route=r, provider=p, model=model)

route("cutting", "up-cut", "up-good")
route("half-dead", "up-dead", "up-good")
route("down", "up-dead")
route("missing", "up-missing")
route("denied", "up-denied")
route("missing-with-sibling", "up-missing", "up-good")
"""


def behaviour(seen: Seen) -> Reply:
    """The mock's answer by upstream model."""
    model = (seen.body or {}).get("model")
    if model == "up-cut":
        return Reply(text=LONG, cut_after=3)  # a few events, then the connection drops
    if model == "up-dead":
        return Reply.failure(503, {"error": {"message": "upstream down", "type": "server_error"}})
    if model == "up-missing":
        return Reply.failure(
            404,
            {"error": {"message": "The model `up-missing` does not exist", "type": "invalid"}},
        )
    if model == "up-denied":
        return Reply.failure(401, {"error": {"message": "Incorrect API key", "type": "auth"}})
    return Reply(text=LONG)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    server = MockUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(mock: MockUpstream) -> Iterator[None]:
    mock.reset()
    mock.default = behaviour
    yield
    mock.reset()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: MockUpstream) -> Iterator[Gateway]:
    with running_gateway(
        tmp_path_factory.mktemp("faults"),
        env={"SWITCHYARD_RETRY_BASE_SECONDS": "0.01"},
        setup=[["shell", "-c", setup_code(mock.url)]],
        seed=False,
    ) as gateway:
        yield gateway


def by_model(mock: MockUpstream) -> Counter[str]:
    return Counter(s.body["model"] for s in mock.chat_requests())


def oa(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def hello(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


# --- streams cut after their first bytes -------------------------------------------------------


def test_a_deployment_cutting_every_stream_is_cooled_and_its_sibling_takes_over(gw, mock) -> None:
    client = oa(gw)
    outcomes = Counter()
    for _ in range(24):
        text = ""
        try:
            for chunk in client.chat.completions.create(**hello("cutting"), stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            outcomes["whole" if text == LONG else "cut"] += 1
        except openai.APIError:  # the in-stream error event, in the OpenAI dialect
            outcomes["cut"] += 1
    served = by_model(mock)
    # before: a stream cut mid-way counted as a success, so the cutting deployment kept
    # its half of the traffic (about 12 of 24 streams cut)
    assert served["up-cut"] <= 4, served  # three failed streams cool it (one may race)
    assert served["up-good"] >= 20, served
    assert outcomes["cut"] == served["up-cut"] and outcomes["whole"] == served["up-good"]
    assert "Traceback" not in gw.log()


def test_a_cut_stream_still_tells_the_client_in_its_dialect(gw, mock) -> None:
    mock.default = lambda seen: Reply(text=LONG, cut_after=3)
    with pytest.raises(openai.APIError):  # the in-stream error, as before
        for _ in oa(gw).chat.completions.create(**hello("cutting"), stream=True):
            pass


# --- the retry budget --------------------------------------------------------------------------


def test_a_failing_upstream_is_not_hit_three_times_per_request(gw, mock) -> None:
    client = oa(gw)
    replies = Counter()
    for _ in range(40):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(**hello("down"))
        replies[caught.value.status_code] += 1
        assert "upstream down" in caught.value.message  # the upstream's own error
    attempts = by_model(mock)["up-dead"]
    # lone deployment, max_attempts 3: 120 attempts without a budget; with the default
    # (20 % of the minute's requests plus 10): 40 + 8 + 10 (a couple more if the test
    # straddles a minute, as the previous minute's retries slide out)
    assert 40 <= attempts <= 60, attempts
    assert set(replies) == {502}  # the upstream's error as a 502, at once
    assert "retry budget" in gw.log()


# --- upstream 404 / 401 on a lone deployment ----------------------------------------------------


def test_an_upstream_404_is_openais_not_found_error(gw, mock) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oa(gw).chat.completions.create(**hello("missing"))
    error = caught.value.body
    assert error["type"] == "invalid_request_error" and error["code"] == "model_not_found"
    assert "'mock-openai'" in error["message"] and "'up-missing'" in error["message"]
    assert SECRET[:8] not in str(error) and mock.url not in str(error)
    assert by_model(mock)["up-missing"] == 1  # not retried


def test_an_upstream_404_is_anthropics_not_found_error(gw, mock) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(max_tokens=16, **hello("missing"))
    assert caught.value.body["error"]["type"] == "not_found_error"
    message = caught.value.body["error"]["message"]
    assert "'mock-openai'" in message and "'up-missing'" in message


def test_an_upstream_404_is_geminis_not_found(gw, mock) -> None:
    options = genai_types.HttpOptions(
        base_url=gw.url,
        api_version="v1beta",
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )
    client = genai.Client(api_key=MASTER_KEY, http_options=options)
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="missing", contents="hi")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    assert "'up-missing'" in caught.value.message and "'mock-openai'" in caught.value.message


def test_an_upstream_404_with_a_sibling_fails_over(gw, mock) -> None:
    for _ in range(3):
        answer = oa(gw).chat.completions.create(**hello("missing-with-sibling"))
        assert answer.choices[0].message.content == LONG


def test_an_upstream_401_stays_a_502(gw, mock) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oa(gw).chat.completions.create(**hello("denied"))
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_authentication_failed"
    assert "Incorrect API key" not in str(caught.value.body)


# --- serve --workers 2: one cooldown for the whole server ---------------------------------------


def test_two_workers_share_one_cooldown_of_a_dead_deployment(tmp_path_factory, mock) -> None:
    with running_gateway(
        tmp_path_factory.mktemp("faults-workers"),
        env={"SWITCHYARD_RETRY_BASE_SECONDS": "0.01"},
        setup=[["shell", "-c", setup_code(mock.url)]],
        seed=False,
        workers=2,
    ) as gw:
        headers = {"authorization": f"Bearer {MASTER_KEY}", "connection": "close"}
        for _ in range(40):  # a new connection each: the kernel spreads them over workers
            reply = httpx.post(
                gw.url + "/v1/chat/completions", json=hello("half-dead"), headers=headers
            )
            assert reply.status_code == 200, reply.text
            time.sleep(0.02)
        served = by_model(mock)
        # before: each worker counted its own 3 failed requests (6 for the server, 120
        # with 40 workers); now the server's 3, and one more at most while the other
        # worker's view catches up
        assert served["up-dead"] <= 4, served
        assert served["up-good"] == 40
        log = gw.log()
        assert log.count("skipped by every worker") >= 1
        assert "Traceback" not in log


# --- two instances on one PostgreSQL and one Redis: one cooldown for both -----------------------


@pytest.mark.services
def test_two_instances_share_one_cooldown_through_redis(
    tmp_path_factory,
    mock,
    redis_url,  # a Redis database of this run's own
    database_url,  # a migrated PostgreSQL database of this module's own
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SWITCHYARD_RETRY_BASE_SECONDS": "0.01",
    }
    with (
        running_gateway(
            tmp_path_factory.mktemp("faults-a"),
            env=env,
            setup=[["shell", "-c", setup_code(mock.url)]],
            seed=False,
        ) as a,
        running_gateway(tmp_path_factory.mktemp("faults-b"), env=env, seed=False) as b,
    ):
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        for n in range(30):  # alternating instances
            gateway = (a, b)[n % 2]
            reply = httpx.post(
                gateway.url + "/v1/chat/completions",
                json=hello("half-dead"),
                headers=headers,
                timeout=10,
            )
            assert reply.status_code == 200, reply.text
            time.sleep(0.02)
        served = by_model(mock)
        # alone, each instance would count its own 3 failed requests (6 here)
        assert served["up-dead"] <= 4, served
        assert served["up-good"] == 30
        assert "Traceback" not in a.log() + b.log()
