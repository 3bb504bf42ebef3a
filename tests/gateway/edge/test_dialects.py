"""A client dialect is its codec plus its lines in the endpoint table: a toy codec with a
client half, registered in ``gateway.codecs.CODECS`` and served under a toy path, is served end to end (parsed,
routed, answered, streamed, counted, refused) in its own shapes, with its own headers
and statuses, without the service or the endpoints knowing its name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from gateway import codecs, journal
from gateway.base.entries import MASTER
from gateway.base.errors import ShuttingDown
from gateway.base.types import ChatRequest, ChatResponse, StreamEvent, TextDelta
from gateway.codecs import CODECS
from gateway.codecs.base import Codec, Dialect
from gateway.codecs.openai_chat import inbound as openai_chat
from gateway.core import service
from gateway.edge import dialects, endpoints
from tests.console.playground_support import JournalRecorder, make_echo_routes

pytestmark = pytest.mark.django_db(transaction=True)

TOY_PATH = "/toy/v1/talk"
TOY_COUNT_PATH = "/toy/v1/count"


def _render_response(response: ChatResponse, request: ChatRequest) -> dict:
    return {"toy": response.text(), "model": request.model}


async def _render_stream(
    events: AsyncIterator[StreamEvent], request: ChatRequest
) -> AsyncIterator[bytes]:
    yield b"toy-prompt:%d\n" % (request.prompt_tokens or -1)
    async for event in events:
        if isinstance(event, TextDelta):
            yield b"toy-text:" + event.text.encode() + b"\n"
    yield b"toy-end\n"


TOY = Dialect(
    name="toy",
    label="Toy",
    parse_request=openai_chat.parse_request,  # OpenAI-shaped bodies, toy-shaped answers
    render_response=_render_response,
    render_stream=_render_stream,
    render_error=lambda error: {"toy_error": error.message},
    render_stream_error=lambda error: b"toy-error:" + error.message.encode() + b"\n",
    client_status=lambda error: 418 if error.status == 404 else error.status,
    render_count_tokens=lambda count: {"toy_tokens": count},
    counts_prompt_in_stream=True,
    keepalive=b"toy-ping\n",
    stream_end=b"toy-bye\n",
    request_id_header=b"toy-request-id",
)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> JournalRecorder:
    monkeypatch.setitem(CODECS, "toy", Codec("toy", "Toy", client=TOY))
    monkeypatch.setitem(dialects.POST_ROUTES, TOY_PATH, ("chat", "toy"))
    monkeypatch.setitem(dialects.POST_ROUTES, TOY_COUNT_PATH, ("count_tokens", "toy"))
    recorder = JournalRecorder()
    monkeypatch.setattr(journal, "record", recorder)

    async def master(headers, token=None) -> service.Caller:  # whatever the headers say
        return service.Caller(key=MASTER)

    monkeypatch.setattr(endpoints, "resolve_fresh_caller", master)
    return recorder


async def _echo_route() -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(make_echo_routes)({"toy-model": {}})


async def _post(path: str, body: dict) -> tuple[int, dict[bytes, bytes], bytes]:
    """POST ``body`` to the ASGI app; (status, headers, the whole body)."""
    sent: list[dict] = []
    raw = orjson.dumps(body)
    messages = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays until the reply is written
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-length", str(len(raw)).encode())],
    }
    endpoint, dialect = endpoints.POST_ROUTES[path]
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    await app.api(scope, receive, send, endpoint, dialect)
    start = sent[0]
    body_bytes = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body_bytes


MESSAGES = [{"role": "user", "content": "one two three"}]


async def test_a_toy_dialect_answers_in_its_own_shape(toy: JournalRecorder) -> None:
    await _echo_route()
    status, headers, body = await _post(TOY_PATH, {"model": "toy-model", "messages": MESSAGES})
    assert status == 200
    answer = orjson.loads(body)
    assert set(answer) == {"toy", "model"} and answer["model"] == "toy-model"
    assert isinstance(answer["toy"], str) and answer["toy"]
    assert headers[b"toy-request-id"] == headers[b"x-request-id"]
    (record,) = toy.records
    assert record.dialect == "toy" and record.status == 200


async def test_a_toy_stream_is_rendered_by_its_codec_with_the_prompt_counted(
    toy: JournalRecorder,
) -> None:
    await _echo_route()
    body = {"model": "toy-model", "messages": MESSAGES, "stream": True}
    status, _, streamed = await _post(TOY_PATH, body)
    assert status == 200
    lines = streamed.decode().splitlines()
    # counts_prompt_in_stream: the gateway counted the prompt before the first event
    assert lines[0].startswith("toy-prompt:") and int(lines[0].split(":")[1]) > 0
    assert any(line.startswith("toy-text:") for line in lines)
    assert lines[-1] == "toy-end"
    (record,) = toy.records
    assert record.dialect == "toy" and record.stream


async def test_a_toy_error_has_its_codec_s_body_and_status(toy: JournalRecorder) -> None:
    status, headers, body = await _post(TOY_PATH, {"model": "nowhere", "messages": MESSAGES})
    assert status == 418  # the toy's client_status for a 404
    assert orjson.loads(body) == {"toy_error": "model 'nowhere' not found"}
    assert b"toy-request-id" in headers
    (record,) = toy.records
    assert record.status == 418 and record.dialect == "toy"


async def test_toy_token_counts_are_rendered_by_its_codec(toy: JournalRecorder) -> None:
    await _echo_route()
    status, headers, body = await _post(
        TOY_COUNT_PATH, {"model": "toy-model", "messages": MESSAGES}
    )
    assert status == 200
    counted = orjson.loads(body)
    assert set(counted) == {"toy_tokens"} and counted["toy_tokens"] > 0
    assert headers[b"x-switchyard-token-count"] == b"estimate"


async def test_toy_keepalives_and_shutdown_tail_come_from_its_codec(toy, settings) -> None:
    settings.SWITCHYARD_STREAM_KEEPALIVE_SECONDS = 0.05

    async def quiet() -> AsyncIterator[bytes]:
        yield b"toy-text:a\n"
        await asyncio.sleep(0.2)
        yield b"toy-text:b\n"

    bodies: list[bytes] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message["body"])

    await endpoints.send_stream(send, service.StreamReply(200, [], quiet()), "toy")
    assert b"toy-ping\n" in bodies
    tail = endpoints.shutdown_stream_tail("toy")
    error = ShuttingDown("this gateway instance is shutting down and ended the stream; retry")
    assert tail == TOY.render_stream_error(error) + b"toy-bye\n"


def test_the_console_filters_on_every_dialect_in_the_table() -> None:
    from console.forms import LogFilterForm

    choices = dict(LogFilterForm.base_fields["dialect"].choices)
    assert {name: codec.label for name, codec in codecs.clients().items()}.items() <= (
        choices.items()
    )
    assert list(codecs.clients()) == [
        "openai",
        "anthropic",
        "responses",
        "gemini",
        "gemini_interactions",
    ]


def test_unknown_dialect_names_fall_back_to_openai_chat() -> None:
    assert codecs.client("no-such-dialect") is openai_chat.CLIENT
