"""The journal writer's CPU a record, by stage, for the short question's or an agent's records.

    .venv/bin/python bench/writer_stages.py [--requests 300]
        [--mode plain|stream|agent|agent-translated] [--session] [--batch 100]

Runs bench/calls_per_request.py's set-up in process (the route on bench/mock_upstream.py,
the bare and the governed profiles, body logging on, limits counted by a counter
service), answers ``--requests`` OpenAI requests a profile with the journal's queue
left out (each record kept as it would be queued), then writes those records with
``journal.sql.write_batch`` in batches of 100 on the writer's own database connection,
``--rounds`` times: the least thread CPU a record, and each stage's share (the thread
CPU inside it, averaged over the rounds; a stage's wrapper adds about 0.3 us).

The writer runs in a thread of every worker, beside the event loop, so its CPU is part
of bench/run.py's "server CPU a request" but of no in-process request profile
(calls_per_request.py, agent_cpu.py). Stages: ``log_values`` (the log row),
``body_values`` (the four bodies: text, redaction, recipe, parts), ``insert`` (the
rows' INSERTs: SQLite's own work included), rollups and spend (tallied, then added),
the rest of ``write_batch`` (adapters, the transaction, the commit's CPU). Inside
``body_values`` (not counted again in "rest"): ``texts`` (decode, redaction, the clean
prefix), ``derive`` (the passed-through recipe), ``split`` (envelope and parts).

``agent``: bench/agent_body.py's 150 KB tool loop passed through (OpenAI in, OpenAI
out), as ``bench/run.py --only-mode agent`` sends it (one body again and again);
``agent-translated``: Anthropic in, OpenAI out. ``--session``: a session's growing
turns instead (request i is the loop at turn 100 - requests + i). An agent's records
reach the writer about 25 a batch (``journal.background``: a batch takes at most 4 MB),
so ``--batch 25`` is the load's batch for them."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at run time once the set-up has configured Django
    from gateway.journal import Record

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import agent_body  # noqa: E402
import calls_per_request as setup  # noqa: E402  (the same route, profiles and scope)
import run  # noqa: E402

BATCH = 100
# the agent modes: (path, route, the body maker's dialect)
AGENT = {"agent": "openai", "agent-translated": "anthropic"}
AGENT_TURNS = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="records a profile")
    parser.add_argument("--rounds", type=int, default=4, help="writes of them (the least kept)")
    parser.add_argument("--mode", choices=("plain", "stream", *AGENT), default="plain")
    parser.add_argument("--session", action="store_true", help="agent: a session's turns")
    parser.add_argument("--batch", type=int, default=BATCH, help="records a write_batch")
    parser.add_argument("--profile", choices=("bare", "governed", "both"), default="both")
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    args = parser.parse_args()
    if args.session and 20 + args.requests > AGENT_TURNS:
        parser.error(f"--session: at most {AGENT_TURNS - 20} requests (a session's turns)")
    with tempfile.TemporaryDirectory(prefix="sy-writer-") as folder:
        print(setup.in_process(Path(folder), args.source, lambda p, s: _measure(args, p, s)))


async def _measure(args: argparse.Namespace, mock_port: int, socket: Path) -> str:
    from asgiref.sync import sync_to_async

    application, keys = await setup.started(mock_port, socket)
    import gateway.journal as journal
    from gateway.journal import background

    captured: list[Record] = []

    def keep(entry: Record) -> None:  # the records as queued, not written meanwhile
        captured.append(entry)

    journal._hand_on = keep
    rows = []
    for profile, key in keys.items():
        if args.profile not in ("both", profile):
            continue
        dialect = AGENT.get(args.mode, "openai")
        path, extra = setup.PATHS[dialect]
        bodies = _bodies(args, dialect)
        for raw in bodies[:20]:  # warm up
            await setup._one(application, setup._scope(path, raw, key, extra), raw, None)
        await asyncio.sleep(0.2)
        captured.clear()
        for raw in bodies[20:]:
            await setup._one(application, setup._scope(path, raw, key, extra), raw, None)
        await asyncio.sleep(0.5)  # records completed after the reply
        records = list(captured)
        for record in records:
            background.admit(record)  # as the writer's queue takes it
        least, stages = await sync_to_async(_write, thread_sensitive=False)(
            records, args.rounds, args.batch
        )
        rows.append((profile, len(records), least, stages))
    return _report(rows, args)


def _bodies(args: argparse.Namespace, dialect: str) -> list[bytes]:
    """The warm-up's 20 request bodies, then ``--requests`` measured."""
    count = 20 + args.requests
    if args.mode in AGENT:
        make = agent_body.anthropic_body if dialect == "anthropic" else agent_body.openai_body
        if not args.session:
            return [make(AGENT_TURNS, model=run.ROUTE)] * count
        return [make(AGENT_TURNS - count + 1 + i, model=run.ROUTE) for i in range(count)]
    body: dict[str, Any] = {"model": run.ROUTE, "max_tokens": 64, "messages": run.MESSAGES}
    if args.mode == "stream":
        body["stream"] = True
    return [json.dumps(body).encode()] * count


def _write(records: list[Record], rounds: int, batch: int) -> tuple[float, dict[str, float]]:
    """(least thread CPU a record, each stage's mean thread CPU a record and the rest of
    the mean as "rest"), in us."""
    from gateway.journal import blobs, rows, sql
    from gateway.telemetry import rollups, spend

    spent: collections.defaultdict[str, float] = collections.defaultdict(float)
    wrapped = [
        (sql, "log_values", "log_values"),
        (sql, "body_values", "body_values"),
        (sql, "_insert", "insert"),
        (rollups, "tally", "rollups"),
        (rollups, "add", "rollups"),
        (spend, "tally", "spend"),
        (spend, "add", "spend"),
        (blobs.Parts, "write", "parts"),
        (rows, "_texts", "texts"),  # (these three inside body_values)
        (rows, "derive", "derive"),
        (rows, "_split", "split"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]
    for (owner, name, label), (_, _, original) in zip(wrapped, originals, strict=True):
        setattr(owner, name, _timed(original, label, spent))
    least, total = float("inf"), 0.0
    try:
        for _ in range(rounds):
            started = time.thread_time()
            for start in range(0, len(records), batch):
                sql.write_batch(records[start : start + batch])
            took = time.thread_time() - started
            least, total = min(least, took), total + took
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    per_record = 1e6 / (rounds * len(records))
    stages = {k: v * per_record for k, v in spent.items()}
    stages["rest"] = total * per_record - sum(
        v for k, v in stages.items() if k not in INSIDE_BODIES
    )
    return least * 1e6 / len(records), stages


INSIDE_BODIES = ("texts", "derive", "split")


def _timed(
    original: Callable[..., Any], label: str, spent: collections.defaultdict[str, float]
) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - started

    return timed


def _report(rows: list[tuple[str, int, float, dict[str, float]]], args: argparse.Namespace) -> str:
    labels = (
        "log_values",
        "body_values",
        *INSIDE_BODIES,
        "insert",
        "rollups",
        "spend",
        "parts",
        "rest",
    )
    mode = args.mode + (" session" if args.session and args.mode in AGENT else "")
    lines = [
        f"The journal writer's CPU a record, {mode} (thread CPU, us; "
        f"{args.rounds} writes of each profile's records, batches of {args.batch}):",
        "",
        "| profile | records | a record (least) | " + " | ".join(labels) + " |",
        "|---|---:|---:|" + "---:|" * len(labels),
    ]
    for profile, count, least, stages in rows:
        cells = " | ".join(f"{stages.get(label, 0.0):.1f}" for label in labels)
        lines.append(f"| {profile} | {count} | {least:.1f} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
