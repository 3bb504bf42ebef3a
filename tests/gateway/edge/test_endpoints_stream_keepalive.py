"""A stream that goes quiet gets keep-alives between its chunks: Anthropic's ``ping``
event for the Anthropic dialect, an SSE comment for the OpenAI ones; a stream that
keeps flowing gets none, and keep-alives never land inside a chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.core.service import StreamReply
from gateway.edge import endpoints

ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def chunks_with_pauses(pauses: list[float]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for n, pause in enumerate(pauses):
            await asyncio.sleep(pause)
            yield f"data: chunk-{n}\n\n".encode()

    return gen()


async def sent_bodies(
    dialect: str, pauses: list[float], send_delay: float = 0, overlaps: list | None = None
) -> list[bytes]:
    bodies: list[bytes] = []
    active = 0

    async def send(message: dict) -> None:
        nonlocal active
        if message["type"] == "http.response.body":
            active += 1
            if active > 1 and overlaps is not None:  # ASGI allows one send at a time
                overlaps.append(message["body"])
            if send_delay:
                await asyncio.sleep(send_delay)  # a slow client: sends take time
            bodies.append(message["body"])
            active -= 1

    reply = StreamReply(200, [], chunks_with_pauses(pauses))
    await endpoints.send_stream(send, reply, dialect)
    return bodies


@pytest.fixture
def keepalive_every_100ms(settings) -> None:
    settings.SWITCHYARD_STREAM_KEEPALIVE_SECONDS = 0.1


async def test_anthropic_stream_gets_ping_events_while_quiet(keepalive_every_100ms) -> None:
    bodies = await sent_bodies("anthropic", [0, 0.35, 0])
    assert bodies[0] == b"data: chunk-0\n\n"
    between = bodies[1 : bodies.index(b"data: chunk-1\n\n")]
    assert 1 <= len(between) <= 4  # about 3; fewer when a loaded machine delays timers
    assert set(between) == {ANTHROPIC_PING}
    assert bodies[-3:] == [b"data: chunk-1\n\n", b"data: chunk-2\n\n", b""]


@pytest.mark.parametrize("dialect", ["openai", "responses"])
async def test_openai_streams_get_an_sse_comment(keepalive_every_100ms, dialect) -> None:
    bodies = await sent_bodies(dialect, [0, 0.25])
    pings = [b for b in bodies if b.startswith(b":")]
    assert pings and set(pings) == {b": keep-alive\n\n"}
    assert [b for b in bodies if b.startswith(b"data")] == [
        b"data: chunk-0\n\n",
        b"data: chunk-1\n\n",
    ]


async def test_a_flowing_stream_gets_no_keepalive(settings) -> None:
    settings.SWITCHYARD_STREAM_KEEPALIVE_SECONDS = 1.0
    bodies = await sent_bodies("anthropic", [0.05] * 12)  # 0.6 s in all, never 1 s quiet
    assert ANTHROPIC_PING not in bodies
    assert len(bodies) == 13


@pytest.mark.parametrize("send_delay", [0.06, 0.12])
async def test_a_ping_never_overlaps_a_chunks_send(keepalive_every_100ms, send_delay) -> None:
    # Sends take 60 or 120 ms (a slow client) and chunks pause 150 ms: a ping falls due
    # while a chunk is being written, and a chunk arrives while a ping is being written.
    # Neither may start a second send before the first returned.
    overlaps: list[bytes] = []
    bodies = await sent_bodies(
        "anthropic", [0, 0.15, 0.15, 0], send_delay=send_delay, overlaps=overlaps
    )
    assert overlaps == []
    assert ANTHROPIC_PING in bodies  # the pinger did run alongside the chunks
    data = [b for b in bodies if b.startswith(b"data")]
    assert data == [f"data: chunk-{n}\n\n".encode() for n in range(4)]
    assert set(bodies) <= {ANTHROPIC_PING, b"", *data}


async def test_zero_turns_keepalives_off(settings) -> None:
    settings.SWITCHYARD_STREAM_KEEPALIVE_SECONDS = 0
    bodies = await sent_bodies("anthropic", [0, 0.3])
    assert bodies == [b"data: chunk-0\n\n", b"data: chunk-1\n\n", b""]


async def test_nothing_is_left_running_after_the_stream(keepalive_every_100ms) -> None:
    before = len(asyncio.all_tasks())
    bodies = await sent_bodies("openai", [0, 0.15])
    sent = len(bodies)
    await asyncio.sleep(0.35)  # three keep-alive periods: no ping after the end
    assert len(bodies) == sent
    assert len(asyncio.all_tasks()) == before
