"""What the request path hands to the journal (``gateway.journal.record``): the row of a
call on one of the gateway's own protocols (MCP, A2A) as it starts."""

from __future__ import annotations

import time

from gateway.base.entries import MASTER
from gateway.journal.record import Record, Spliced


def test_a_protocol_call_row_names_its_protocol_and_key() -> None:
    key = MASTER
    row = Record.of_call("mcp", key, endpoint="tools/call", route="files")
    assert row.request_id.startswith("mcp_") and len(row.request_id) == 4 + 24
    assert (row.dialect, row.provider, row.endpoint, row.route) == (
        "mcp",
        "mcp",
        "tools/call",
        "files",
    )
    assert (row.key_id, row.key_name, row.key_prefix) == (None, "master", "master")
    assert Record.of_call("mcp", key).request_id != row.request_id


def test_a_protocol_call_row_without_a_key_names_none() -> None:
    row = Record.of_call("a2a", None, status=503)
    assert (row.key_id, row.key_name, row.key_prefix, row.status) == (None, "", "", 503)
    assert row.request_id.startswith("a2a_") and row.dialect == "a2a"


def test_a_call_timed_until_now_splits_its_latency_at_the_upstream() -> None:
    now = time.monotonic()
    row = Record(request_id="r")
    row.time_until_now(now - 2.0, now - 0.5)
    assert 2000 <= row.latency_ms < 2500 and 500 <= (row.upstream_ms or 0) < 1000
    assert row.overhead_ms == row.latency_ms - (row.upstream_ms or 0)
    alone = Record(request_id="s")
    alone.time_until_now(now - 1.0, None)
    assert alone.latency_ms >= 1000 and alone.upstream_ms is None and alone.overhead_ms is None


def test_a_spliced_body_is_its_head_then_its_neighbour_from_an_offset() -> None:
    rec = Record(request_id="r", inbound_request=b'{"model":"a","messages":[1,2,3]}')
    spliced = Spliced(b'{"model":"bb"', "inbound_request", len(b'{"model":"a"'))
    assert spliced.made(rec) == b'{"model":"bb","messages":[1,2,3]}'
