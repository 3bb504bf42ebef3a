"""A 100-turn agent session replayed through the journal's writer: bytes and CPU a turn.

    .venv/bin/python bench/journal_session.py [--turns 100] [--mode passthrough|translated]

Builds the requests and answers of one Claude Code session (``agent_body``: a 10 KB
system prompt, 20 tools with schemas, the tool loop growing by a call and its result
each turn, about 120 KB by the last request; each answer the next tool call as an
Anthropic stream), makes one journal record a turn, and writes each with
``journal.write_batch`` (the writer thread's own call, one turn a batch: an agent's turns
come seconds apart) into a fresh SQLite database, bodies on. ``passthrough``: the
upstream is Anthropic too (its bodies are the caller's with the model renamed);
``translated``: an OpenAI upstream (its request is the same session in OpenAI chat, its
answer OpenAI chunks).

Prints, for the whole session and for turns 1-10, 45-55 and 91-100: the database's
growth (pages after a WAL checkpoint), the bytes of the body columns (every text column
of ``RequestBody`` and, where the tree has it, of ``BodyBlob``), what is new in each turn
(the messages its request bodies did not carry the turn before, and its answers), and the
writer's CPU a turn (``time.thread_time`` around ``write_batch``). Run it from the tree
to measure (its ``gateway`` is imported), on two trees for before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_body import anthropic_body, openai_body  # noqa: E402

CLIENT_MODEL = "claude-bench"
UPSTREAM_MODEL = {"passthrough": "claude-upstream-1", "translated": "gpt-upstream-1"}


def sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n")
    return "".join(out).encode()


def _pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def anthropic_answer(turn: int, model: str) -> bytes:
    """The stream that answers request ``turn``: the assistant's step text and tool call
    that the next request carries (``agent_body``'s turn ``turn``)."""
    from agent_body import TOOL_NAMES

    call_id = f"toolu_{turn:020d}"
    arguments = json.dumps({"path": f"/work/app/module_{turn}.py", "limit": 200})
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": f"msg_{turn:024d}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 30000 + 400 * turn, "output_tokens": 1,
                      "cache_read_input_tokens": 29000 + 400 * turn}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    for piece in _pieces(f"Step {turn}: I will look at the handler next."):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": piece}}))  # fmt: skip
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("content_block_start", {"type": "content_block_start", "index": 1,
                   "content_block": {"type": "tool_use", "id": call_id,
                                     "name": TOOL_NAMES[turn % len(TOOL_NAMES)], "input": {}}}))  # fmt: skip
    for piece in _pieces(arguments):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 1,
                       "delta": {"type": "input_json_delta", "partial_json": piece}}))  # fmt: skip
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"output_tokens": 48}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return sse(events)


def openai_answer(turn: int, model: str) -> bytes:
    """The same answer as OpenAI chat chunks (the translated upstream's)."""
    from agent_body import TOOL_NAMES

    call_id = f"call_{turn:020d}"
    arguments = json.dumps({"path": f"/work/app/module_{turn}.py", "limit": 200})
    head = {"id": f"chatcmpl-{turn:020d}", "object": "chat.completion.chunk",
            "created": 1_800_000_000, "model": model}  # fmt: skip

    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[str, dict[str, Any]]:
        return "", {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    events += [
        chunk({"content": p}) for p in _pieces(f"Step {turn}: I will look at the handler next.")
    ]
    events.append(chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                   "function": {"name": TOOL_NAMES[turn % len(TOOL_NAMES)], "arguments": ""}}]}))  # fmt: skip
    events += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
        for p in _pieces(arguments)
    ]
    events.append(chunk({}, "tool_calls"))
    events.append(("", {**head, "choices": [], "usage": {"prompt_tokens": 30000 + 400 * turn,
                   "completion_tokens": 48, "total_tokens": 30048 + 400 * turn}}))  # fmt: skip
    return sse(events) + b"data: [DONE]\n\n"


def session(turns: int, mode: str) -> list[dict[str, Any]]:
    """Each turn's four bodies as the journal receives them."""
    upstream = UPSTREAM_MODEL[mode]
    out = []
    for turn in range(turns):
        inbound = anthropic_body(turn, stream=True, model=CLIENT_MODEL)
        outbound = anthropic_answer(turn, CLIENT_MODEL)
        if mode == "passthrough":
            upstream_request = anthropic_body(turn, stream=True, model=upstream)
            upstream_response = anthropic_answer(turn, upstream)
        else:
            upstream_request = openai_body(turn, stream=True, model=upstream)
            upstream_response = openai_answer(turn, upstream)
        out.append(
            {
                "inbound_request": inbound,
                "upstream_request": upstream_request,
                "upstream_response": upstream_response,
                "outbound_response": outbound,
            }
        )
    return out


REQUEST_LISTS = ("messages", "system", "tools")


def new_bytes(previous: dict[str, Any] | None, bodies: dict[str, Any]) -> int:
    """What a turn carries that the turn before did not: in each request body, the list
    elements past the prefix it shares with the previous turn's (canonical JSON), and
    every byte of each answer; the upstream's copies counted only where they are not the
    caller's with the model renamed (translated)."""
    total = len(bodies["outbound_response"])
    names = ["inbound_request"]
    if not bodies["upstream_request"].startswith(b'{"model":"claude'):
        names.append("upstream_request")
        total += len(bodies["upstream_response"])
    for name in names:
        now = json.loads(bodies[name])
        before = json.loads(previous[name]) if previous else {}
        for key in REQUEST_LISTS:
            items, old = now.get(key) or [], before.get(key) or []
            if not isinstance(items, list):
                items, old = [items], [old]
            shared = 0
            while shared < min(len(items), len(old)) and items[shared] == old[shared]:
                shared += 1
            total += sum(len(json.dumps(i, separators=(",", ":"))) for i in items[shared:])
    return total


def body_column_bytes(db: sqlite3.Connection) -> int:
    total = 0
    for table in ("gateway_requestbody", "gateway_bodyblob"):
        columns = [
            row[1]
            for row in db.execute(f'PRAGMA table_info("{table}")')
            if row[2].lower() in ("text", "varchar(32)", "char(32)") or "char" in row[2].lower()
        ]
        if not columns:
            continue  # (a tree without that table)
        summed = " + ".join(f'COALESCE(LENGTH(CAST("{c}" AS BLOB)), 0)' for c in columns)
        total += db.execute(f'SELECT COALESCE(SUM({summed}), 0) FROM "{table}"').fetchone()[0]
    return total


def database_bytes(db: sqlite3.Connection) -> int:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    freelist = db.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - freelist) * db.execute("PRAGMA page_size").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--mode", choices=sorted(UPSTREAM_MODEL), default="passthrough")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    data_dir = tempfile.mkdtemp(prefix="switchyard-journal-session-")
    os.environ.update(
        SWITCHYARD_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="gateway.server.settings",
        DEBUG="0",
        SWITCHYARD_LOG_BODIES="1",
        SWITCHYARD_MASTER_KEY="sy-bench-admin-master-key-0123456789",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from gateway.base import lifecycle
    from gateway.journal import Record, write_batch

    # as a server process does once started: what lives from start-up on is out of the
    # collector's reach (else a young collection now and then walks all of Django)
    lifecycle.freeze_startup_objects()
    path = settings.DATABASES["default"]["NAME"]
    bodies = session(args.turns, args.mode)
    watch = sqlite3.connect(path)
    write_batch([Record(request_id="warm-up", route="bench", dialect="anthropic")])
    start_db, start_cols = database_bytes(watch), body_column_bytes(watch)
    rows: list[tuple[int, int, int, float]] = []  # (db growth, column bytes, new bytes, cpu)
    previous: dict[str, Any] | None = None
    db_before, cols_before = start_db, start_cols
    t0 = 1_800_000_000.0
    for turn, turn_bodies in enumerate(bodies):
        rec = Record(
            request_id=f"req-{turn:06d}",
            created_at=t0 + 5 * turn,
            key_name="master",
            dialect="anthropic",
            endpoint="messages",
            route="bench",
            deployment_id=1,
            provider="anthropic" if args.mode == "passthrough" else "openai",
            upstream_model=UPSTREAM_MODEL[args.mode],
            stream=True,
            status=200,
            finish_reason="tool_use",
            session="session-bench-0001",
            user_agent="claude-cli/2.1 (external, cli)",
            **turn_bodies,
        )
        cpu = time.thread_time()
        write_batch([rec])
        cpu = time.thread_time() - cpu
        db_now, cols_now = database_bytes(watch), body_column_bytes(watch)
        rows.append(
            (db_now - db_before, cols_now - cols_before, new_bytes(previous, turn_bodies), cpu)
        )
        db_before, cols_before, previous = db_now, cols_now, turn_bodies
    report(args, rows, len(bodies[-1]["inbound_request"]))


def report(args: argparse.Namespace, rows: list[tuple[int, int, int, float]], last: int) -> None:
    print(
        f"{args.turns}-turn agent session, {args.mode}, last request {last / 1024:.0f} KB "
        f"(one record a batch, fresh SQLite)"
    )
    print(
        f"{'turns':>9} | {'db growth/turn':>14} | {'body cols/turn':>14} | "
        f"{'new/turn':>9} | {'cols / new':>10} | {'writer CPU/turn':>15}"
    )
    n = len(rows)
    spans = [(0, n, "all")] + [
        (a, b, f"{a + 1}-{b}") for a, b in ((0, 10), (n // 2 - 5, n // 2 + 5), (n - 10, n))
    ]
    for a, b, label in spans:
        part = rows[max(0, a) : b]
        k = len(part)
        db = sum(r[0] for r in part) / k
        cols = sum(r[1] for r in part) / k
        new = sum(r[2] for r in part) / k
        cpu = sum(r[3] for r in part) / k
        print(
            f"{label:>9} | {db / 1024:>11.1f} KB | {cols / 1024:>11.1f} KB | "
            f"{new / 1024:>6.1f} KB | {cols / new:>10.2f} | {cpu * 1000:>12.2f} ms"
        )
    total_db = sum(r[0] for r in rows)
    total_cols = sum(r[1] for r in rows)
    print(
        f"session total: db growth {total_db / 2**20:.2f} MB, body columns {total_cols / 2**20:.2f} MB"
    )
    worst = max(r[1] / r[2] for r in rows)
    print(f"worst turn: body columns {worst:.2f} x its new bytes")


if __name__ == "__main__":
    main()
