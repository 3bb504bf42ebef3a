"""Guardrails with the official SDKs on every client dialect, plain and streamed, on a
real gateway in front of the mock upstream (OpenAI and Anthropic protocols).

Routes ``g-gpt`` and ``g-claude`` carry two content-filter guardrails: ``mask-mail``
(pre_call and post_call: an e-mail address becomes ``[EMAIL_REDACTED]`` before the
upstream sees it, and in the answer before the caller does)
and ``no-secret-word`` (pre_call and post_call: the word "forbidden" or a US SSN blocks).
A streamed answer that reaches the word stops before it: the word never appears in any
delta, and the stream ends the caller's way."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.live import MASTER_KEY, free_port, running_gateway

from .conftest import setup_code as upstream_setup
from .mock_upstream import MockUpstream, Reply

GUARDRAILS = """
from gateway.models import Guardrail, Route
Guardrail.objects.create(
    name="mask-mail", kind="litellm_content_filter", modes=["pre_call", "post_call"],
    params={"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]},
)
Guardrail.objects.create(
    name="no-secret-word", kind="litellm_content_filter", modes=["pre_call", "post_call"],
    params={
        "patterns": [{"pattern_type": "prebuilt", "pattern_name": "us_ssn", "action": "BLOCK"}],
        "blocked_words": [{"keyword": "forbidden", "action": "BLOCK"}],
    },
)
Guardrail.objects.create(
    name="beside", kind="litellm_content_filter", modes=["during_call"],
    params={"blocked_words": [{"keyword": "sidecar", "action": "BLOCK"}]},
)
for name, upstream in (("g-gpt", "mock-gpt"), ("g-claude", "mock-claude")):
    source = Route.objects.get(name=upstream)
    deployment = source.deployments.get()
    route = Route.objects.create(name=name, max_attempts=1, guardrails=["mask-mail", "no-secret-word"])
    deployment.pk = None
    deployment.route = route
    deployment.save()
"""

# an answer that reaches the blocked word after a clean start, in 3-character pieces
LEAKY = "Here is the plan, step by step, as you asked. " * 3 + "The word is forbidden. More."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MockUpstream]]:
    mock = MockUpstream().start()
    dead = f"http://127.0.0.1:{free_port()}"
    setup = [["shell", "-c", upstream_setup(mock.url, dead)], ["shell", "-c", GUARDRAILS]]
    try:
        with running_gateway(tmp_path_factory.mktemp("guardrails"), setup=setup) as gw:
            yield gw.url, mock
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
    finally:
        mock.stop()


@pytest.fixture
def mock(stack: tuple[str, MockUpstream]) -> MockUpstream:
    stack[1].reset()
    return stack[1]


def oa(stack: tuple[str, MockUpstream]) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack[0] + "/v1", api_key=MASTER_KEY, max_retries=0)


def an(stack: tuple[str, MockUpstream]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack[0], api_key=MASTER_KEY, max_retries=0)


def streamed_chat(stack: tuple[str, MockUpstream], route: str) -> tuple[str, list[str | None]]:
    """A streamed chat answer through the OpenAI SDK: its text, and each chunk's
    finish reason."""
    stream = oa(stack).chat.completions.create(
        model=route, messages=[{"role": "user", "content": "plan?"}], stream=True
    )
    deltas, finishes = [], []
    for chunk in stream:
        for choice in chunk.choices:
            deltas.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
    return "".join(deltas), finishes


def upstream_text(mock: MockUpstream) -> str:
    return json.dumps(mock.last.body)


@pytest.mark.parametrize("route", ["g-gpt", "g-claude"])
def test_openai_chat_masks_before_the_upstream(stack, mock: MockUpstream, route: str) -> None:
    answer = oa(stack).chat.completions.create(
        model=route, messages=[{"role": "user", "content": "mail bob@example.com today"}]
    )
    assert answer.choices[0].message.content
    assert "bob@example.com" not in upstream_text(mock)
    assert "[EMAIL_REDACTED]" in upstream_text(mock)


@pytest.mark.parametrize("route", ["g-gpt", "g-claude"])
def test_openai_chat_block_sends_nothing_upstream(stack, mock: MockUpstream, route: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        oa(stack).chat.completions.create(
            model=route, messages=[{"role": "user", "content": "my ssn is 123-45-6789"}]
        )
    assert "no-secret-word" in str(refused.value) and "123-45-6789" not in str(refused.value)
    assert refused.value.code == "guardrail_blocked"
    assert mock.chat_requests() == []


@pytest.mark.parametrize("route", ["g-gpt", "g-claude"])
def test_openai_chat_stream_stops_before_the_word(stack, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text=LEAKY))
    text, finishes = streamed_chat(stack, route)
    assert "forbidden" not in text and "forb" not in text
    assert text.startswith("Here is the plan")
    assert "content_filter" in finishes


MAILED = "Write to alice.smith@example.org for the plan, step by step. " * 2 + "Done."


@pytest.mark.parametrize("route", ["g-gpt", "g-claude"])
def test_a_streamed_answer_is_masked_for_either_sdk(stack, mock: MockUpstream, route: str) -> None:
    """post_call masks a streamed answer for each SDK on each route: translated, or
    passed through (OpenAI SDK to the OpenAI upstream, Anthropic SDK to the Anthropic
    one) and checked in the upstream's own events, the masked ones written again; each
    SDK reads a whole, well-formed answer."""
    expected = MAILED.replace("alice.smith@example.org", "[EMAIL_REDACTED]")
    mock.queue(Reply(text=MAILED))
    text, finishes = streamed_chat(stack, route)
    assert text == expected
    assert finishes[-1] == "stop"
    mock.queue(Reply(text=MAILED))
    with an(stack).messages.stream(
        model=route, max_tokens=200, messages=[{"role": "user", "content": "plan?"}]
    ) as events:
        final = events.get_final_message()
    assert final.content[0].text == expected  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"


def test_openai_chat_whole_answer_blocked(stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text=LEAKY))
    with pytest.raises(openai.BadRequestError) as refused:
        oa(stack).chat.completions.create(
            model="g-gpt", messages=[{"role": "user", "content": "plan?"}]
        )
    assert "forbidden" not in str(refused.value.body) or "blocked" in str(refused.value)
    assert "the answer" in str(refused.value)


@pytest.mark.parametrize("route", ["g-gpt", "g-claude"])
def test_anthropic_messages_block_and_stream(stack, mock: MockUpstream, route: str) -> None:
    client = an(stack)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model=route, max_tokens=50, messages=[{"role": "user", "content": "say forbidden"}]
        )
    assert "no-secret-word" in str(refused.value)
    mock.queue(Reply(text=LEAKY))
    texts, stop = [], None
    with client.messages.stream(
        model=route, max_tokens=200, messages=[{"role": "user", "content": "plan?"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                texts.append(event.delta.text)
        final = stream.get_final_message()
        stop = final.stop_reason
    assert "forb" not in "".join(texts) and "".join(texts).startswith("Here is the plan")
    assert stop == "refusal"


def test_anthropic_messages_mask(stack, mock: MockUpstream) -> None:
    an(stack).messages.create(
        model="g-claude",
        max_tokens=50,
        system="reply to eve@corp.io",
        messages=[{"role": "user", "content": "hi"}],
    )
    body = upstream_text(mock)
    assert "eve@corp.io" not in body and "[EMAIL_REDACTED]" in body


def test_responses_plain_and_streamed(stack, mock: MockUpstream) -> None:
    client = oa(stack)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="g-gpt", input="forbidden things")
    mock.queue(Reply(text=LEAKY))
    texts, final = [], None
    for event in client.responses.create(model="g-gpt", input="plan?", stream=True):
        if event.type == "response.output_text.delta":
            texts.append(event.delta)
        if event.type in ("response.completed", "response.incomplete"):
            final = event.response
    assert "forb" not in "".join(texts)
    assert final is not None and final.status == "incomplete"
    assert final.incomplete_details.reason == "content_filter"


def test_responses_websocket_mode_refuses_with_an_error_event(stack, mock: MockUpstream) -> None:
    with oa(stack).responses.connect() as connection:
        connection.response.create(model="g-gpt", input="ssn 123-45-6789")
        for event in connection:
            if event.type in ("error", "response.completed", "response.failed"):
                break
        assert event.type == "error" and event.status == 400
        assert "no-secret-word" in event.error.message
        connection.response.create(model="g-gpt", input="mail a@b.io")  # the socket stays
        for event in connection:
            if event.type in ("error", "response.completed", "response.failed"):
                break
        assert event.type == "response.completed"
    assert "a@b.io" not in upstream_text(mock)


def test_gemini_generate_content_plain_and_streamed(stack, mock: MockUpstream) -> None:
    from google import genai
    from google.genai import errors, types

    client = genai.Client(
        api_key=MASTER_KEY,
        http_options=types.HttpOptions(
            base_url=stack[0],
            api_version="v1beta",
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )
    with pytest.raises(errors.ClientError) as refused:
        client.models.generate_content(model="g-gpt", contents="forbidden")
    assert refused.value.code == 400 and "no-secret-word" in str(refused.value)
    mock.queue(Reply(text=LEAKY))
    texts, reasons = [], []
    for chunk in client.models.generate_content_stream(model="g-gpt", contents="plan?"):
        for candidate in chunk.candidates or []:
            for part in (candidate.content.parts if candidate.content else None) or []:
                texts.append(part.text or "")
            reasons.append(candidate.finish_reason)
    assert "forb" not in "".join(texts)
    assert types.FinishReason.SAFETY in reasons


def test_legacy_completions_prompt_checked(stack, mock: MockUpstream) -> None:
    with pytest.raises(openai.BadRequestError):
        oa(stack).completions.create(model="g-gpt", prompt="ssn 123-45-6789")
    assert not [s for s in mock.seen if s.path.endswith("/completions")]


def test_requested_guardrail_during_call_gates_the_answer(stack, mock: MockUpstream) -> None:
    client = oa(stack)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="mock-gpt",
            messages=[{"role": "user", "content": "the sidecar"}],
            stream=True,
            extra_body={"guardrails": ["beside"]},
        )
    assert "beside" in str(refused.value)
    assert "guardrails" not in upstream_text(mock)  # the upstream was called, without the field
    answer = client.chat.completions.create(
        model="mock-gpt",
        messages=[{"role": "user", "content": "fine"}],
        extra_body={"guardrails": ["beside"]},
    )
    assert answer.choices[0].message.content
    assert "guardrails" not in upstream_text(mock)


def test_a_stored_response_keeps_the_masked_input(stack, mock: MockUpstream) -> None:
    client = oa(stack)
    first = client.responses.create(model="g-gpt", input="write to zed@mail.org", store=True)
    items = client.responses.input_items.list(first.id)
    stored = json.dumps([item.model_dump() for item in items.data])
    assert "zed@mail.org" not in stored and "[EMAIL_REDACTED]" in stored
    client.responses.create(model="g-gpt", input="and again", previous_response_id=first.id)
    assert "zed@mail.org" not in upstream_text(mock)
