"""Context windows through a live ``serve`` and the official SDKs: a prompt too long for
a route's window goes to its context-window fallback, and a prompt too long for every
window is a 400 in the caller's own dialect (OpenAI ``context_length_exceeded``,
Anthropic ``invalid_request_error`` "prompt is too long: N tokens > M maximum", Gemini
``INVALID_ARGUMENT``) naming the count and the largest window, without an upstream call
(the echo provider answers the fallback; no other upstream exists)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.live import MASTER_KEY, Gateway, running_gateway

SETUP = """
from gateway.models import Deployment, Provider, Route
echo = Provider.objects.get(name="echo")
big = Route.objects.create(name="cw-big", max_attempts=1)
Deployment.objects.create(route=big, provider=echo, model="echo-big", context_window=5000)
mid = Route.objects.create(name="cw-mid", max_attempts=1)
Deployment.objects.create(route=mid, provider=echo, model="echo-mid", context_window=1000)
Route.objects.create(name="cw-small", max_attempts=1, context_window_fallbacks=["cw-mid", "cw-big"])
Deployment.objects.create(
    route=Route.objects.get(name="cw-small"), provider=echo, model="echo-s", context_window=200
)
"""

# "lorem ipsum dolor sit amet " is 5 tokens in cl100k: 1,000 copies are 5,000 tokens
# plus the message overhead, over the largest window (5,000); 400 copies (2,000) fit it
OVER_ALL = "lorem ipsum dolor sit amet " * 1_000
OVER_SMALL = "lorem ipsum dolor sit amet " * 400
TOO_LONG = re.compile(r"^prompt is too long: (\d+) tokens > 5000 maximum")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("cw"), setup=[["shell", "-c", SETUP]]) as gateway:
        yield gateway


def assert_count(message: str) -> None:
    match = TOO_LONG.match(message)
    assert match, message
    assert 5_000 < int(match[1]) < 5_100  # the tokenizer's count, not chars/4 (6,750)
    assert "'cw-big'" in message  # the largest window this request could reach


def test_openai_sdk_gets_the_fallback_then_context_length_exceeded(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="cw-small", messages=[{"role": "user", "content": OVER_SMALL}]
    )
    assert raw.headers["x-switchyard-route"] == "cw-big"  # small and mid hold 200 and 1,000
    assert raw.parse().choices[0].message.content
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="cw-small", messages=[{"role": "user", "content": OVER_ALL}]
        )
    assert raised.value.status_code == 400
    assert raised.value.code == "context_length_exceeded"
    assert raised.value.body["type"] == "invalid_request_error"
    assert_count(raised.value.body["message"])


def test_anthropic_sdk_gets_prompt_is_too_long(gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model="cw-small",
            max_tokens=16,
            messages=[{"role": "user", "content": OVER_ALL}],
        )
    assert raised.value.status_code == 400
    error = raised.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert_count(error["message"])


def test_google_genai_sdk_gets_invalid_argument(gw: Gateway) -> None:
    client = genai.Client(
        api_key=MASTER_KEY,
        http_options=types.HttpOptions(
            base_url=gw.url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    with pytest.raises(genai_errors.ClientError) as raised:
        client.models.generate_content(model="cw-small", contents=OVER_ALL)
    assert raised.value.code == 400
    assert raised.value.status == "INVALID_ARGUMENT"
    assert_count(raised.value.message)
    assert "Traceback" not in gw.log()
