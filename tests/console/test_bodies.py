"""A logged stream is split into events by the gateway's one SSE reader: comments are
not events, CRLF lines and multi-line data read as the gateway read them."""

from __future__ import annotations

from console.bodies import SSEEvent, present


def test_a_logged_stream_is_read_as_the_gateway_reads_it() -> None:
    raw = ': keep-alive\r\n\r\nevent: ping\r\ndata: {"a":1}\r\n\r\ndata: one\ndata: two\n\ndata: [DONE]'
    body = present("upstream_response", raw)
    assert body.kind == "sse"
    assert body.events == [
        SSEEvent("ping", '{\n  "a": 1\n}'),
        SSEEvent("message", "one\ntwo"),
        SSEEvent("message", "[DONE]"),  # the last event, without its blank line
    ]
