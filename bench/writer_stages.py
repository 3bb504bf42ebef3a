"""The journal writer's CPU a record, by stage, for the short question's records.

    .venv/bin/python bench/writer_stages.py [--requests 300] [--mode plain|stream]

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
the rest of ``write_batch`` (adapters, the transaction, the commit's CPU)."""

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

import calls_per_request as setup  # noqa: E402  (the same route, profiles and scope)
import run  # noqa: E402

BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="records a profile")
    parser.add_argument("--rounds", type=int, default=4, help="writes of them (the least kept)")
    parser.add_argument("--mode", choices=("plain", "stream"), default="plain")
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    args = parser.parse_args()
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
        path, extra = setup.PATHS["openai"]
        body: dict[str, Any] = {"model": run.ROUTE, "max_tokens": 64, "messages": run.MESSAGES}
        if args.mode == "stream":
            body["stream"] = True
        raw = json.dumps(body).encode()
        scope = setup._scope(path, raw, key, extra)
        for _ in range(20):  # warm up
            await setup._one(application, scope, raw, None)
        await asyncio.sleep(0.2)
        captured.clear()
        for _ in range(args.requests):
            await setup._one(application, scope, raw, None)
        await asyncio.sleep(0.5)  # records completed after the reply
        records = list(captured)
        for record in records:
            background.admit(record)  # as the writer's queue takes it
        least, stages = await sync_to_async(_write, thread_sensitive=False)(records, args.rounds)
        rows.append((profile, len(records), least, stages))
    return _report(rows, args)


def _write(records: list[Record], rounds: int) -> tuple[float, dict[str, float]]:
    """(least thread CPU a record, each stage's mean thread CPU a record and the rest of
    the mean as "rest"), in us."""
    from gateway.journal import blobs, sql
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
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]
    for (owner, name, label), (_, _, original) in zip(wrapped, originals, strict=True):
        setattr(owner, name, _timed(original, label, spent))
    least, total = float("inf"), 0.0
    try:
        for _ in range(rounds):
            started = time.thread_time()
            for start in range(0, len(records), BATCH):
                sql.write_batch(records[start : start + BATCH])
            took = time.thread_time() - started
            least, total = min(least, took), total + took
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    per_record = 1e6 / (rounds * len(records))
    stages = {k: v * per_record for k, v in spent.items()}
    stages["rest"] = total * per_record - sum(stages.values())
    return least * 1e6 / len(records), stages


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
    labels = ("log_values", "body_values", "insert", "rollups", "spend", "parts", "rest")
    lines = [
        f"The journal writer's CPU a record, OpenAI {args.mode} (thread CPU, us; "
        f"{args.rounds} writes of each profile's records, batches of {BATCH}):",
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
