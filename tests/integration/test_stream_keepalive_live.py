"""Keep-alives on a real server, read by the official SDKs: a stream whose upstream
pauses longer than SWITCHYARD_STREAM_KEEPALIVE_SECONDS carries pings on the wire, and
the ``anthropic`` and ``openai`` clients still assemble exactly the text sent."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

SETUP = """
from gateway.models import Deployment, Provider, Route
echo = Provider.objects.get(name="echo")
route = Route.objects.create(name="echo-pausing")
Deployment.objects.create(route=route, provider=echo, model="echo-pausing",
                          params={"delay": 0.3}, max_output_tokens=1024)
"""
TEXT = "alpha beta gamma"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"SWITCHYARD_STREAM_KEEPALIVE_SECONDS": "0.1"}
    setup = [["shell", "-c", SETUP]]
    with running_gateway(tmp_path_factory.mktemp("keepalive"), env=env, setup=setup) as gw:
        yield gw


def test_anthropic_wire_has_pings_and_the_sdk_reads_the_text(gateway: Gateway) -> None:
    body = {
        "model": "echo-pausing",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": TEXT}],
    }
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30
    ) as response:
        wire = response.read().decode()
    assert "event: ping" in wire
    assert wire.index("event: ping") > wire.index("event: message_start")
    assert wire.rstrip().endswith('data: {"type":"message_stop"}')

    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    with client.messages.stream(
        model="echo-pausing", max_tokens=100, messages=[{"role": "user", "content": TEXT}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert TEXT in text
    assert final.stop_reason == "end_turn"


def test_openai_wire_has_comments_and_the_sdk_reads_the_text(gateway: Gateway) -> None:
    body = {
        "model": "echo-pausing",
        "stream": True,
        "messages": [{"role": "user", "content": TEXT}],
    }
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        wire = response.read().decode()
    assert ": keep-alive\n\n" in wire
    assert wire.rstrip().endswith("data: [DONE]")

    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="echo-pausing", messages=[{"role": "user", "content": TEXT}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert TEXT in text


def test_gemini_wire_has_blank_lines_and_the_sdk_reads_the_text(gateway: Gateway) -> None:
    """Google's SDKs read every line that is not ``data:`` as JSON: a Gemini stream's
    keep-alive is a bare newline, which their parsers (and the SSE grammar) skip."""
    from google import genai
    from google.genai import types

    body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}
    url = f"{gateway.url}/v1beta/models/echo-pausing:streamGenerateContent?alt=sse"
    with httpx.stream(
        "POST", url, json=body, headers={"x-goog-api-key": MASTER_KEY}, timeout=30
    ) as response:
        wire = response.read().decode()
    assert "\n\n\n" in wire  # an event, then a keep-alive newline
    assert ": keep-alive" not in wire
    assert '"finishReason":"STOP"' in wire

    client = genai.Client(
        api_key=MASTER_KEY,
        http_options=types.HttpOptions(
            base_url=gateway.url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    chunks = list(client.models.generate_content_stream(model="echo-pausing", contents=TEXT))
    assert TEXT in "".join(c.text or "" for c in chunks)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
