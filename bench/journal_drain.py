"""How fast the journal's writer drains while the event loop's thread is busy.

    .venv/bin/python bench/journal_drain.py [RECORDS] [--batch N] [--idle]

Queues RECORDS (10,000) records like the benchmark's plain OpenAI requests (bodies on)
in a ``journal.Writer`` on a fresh SQLite database, then lets it write them while a task
on the same loop burns 1 ms slices of CPU between polls (standing for c=64 traffic: the
writer thread competes with the loop's thread for the GIL). Prints records written per
second. Run it from the tree to measure (its ``gateway`` is imported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at run time after django.setup()
    from gateway.journal import Record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=int, nargs="?", default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="the writer's batch size")
    parser.add_argument("--idle", action="store_true", help="no busy task on the loop")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    os.environ.update(
        SWITCHYARD_DATA_DIR=tempfile.mkdtemp(prefix="switchyard-journal-drain-"),
        DJANGO_SETTINGS_MODULE="gateway.server.settings",
        DEBUG="0",
        SWITCHYARD_LOG_BODIES="1",
        SWITCHYARD_MASTER_KEY="sy-bench-admin-master-key-0123456789",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    asyncio.run(drain(args.records, args.batch, not args.idle))


def records(count: int) -> list[Record]:
    from gateway.journal import Record
    from gateway.routing.attempts import Attempt

    message = {"role": "user", "content": "Say hello in twenty tokens."}
    inbound = json.dumps({"model": "bench", "max_tokens": 64, "messages": [message]}).encode()
    answer = {"role": "assistant", "content": " ".join(["hello"] * 20)}
    reply = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": "bench-model",
            "choices": [{"index": 0, "message": answer, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32},
        }
    ).encode()
    return [
        Record(
            request_id=f"req-{i:012d}",
            key_name="master",
            dialect="openai",
            endpoint="chat",
            route="bench",
            deployment_id=1,
            provider="openai",
            upstream_model="bench-model",
            status=200,
            finish_reason="stop",
            attempts=[Attempt(1, "openai/bench-model", "bench", 200, 1.2)],
            latency_ms=2.0,
            upstream_ms=1.0,
            overhead_ms=1.0,
            input_tokens=12,
            output_tokens=20,
            user_agent="wrk",
            inbound_request=inbound,
            upstream_request=inbound,
            upstream_response=reply,
            outbound_response=reply,
        )
        for i in range(count)
    ]


async def drain(count: int, batch: int, busy: bool) -> None:
    from gateway.base import lifecycle
    from gateway.journal import Writer

    # as a server process does once started: what lives from start-up on is out of the
    # collector's reach, and the young generation is collected less often
    lifecycle.freeze_startup_objects()
    writer = Writer(
        capacity=10**7,
        max_bytes=2**40,
        flush_seconds=0.05,
        batch_size=batch,
        notify=False,
        prune_every=None,
    )
    for rec in records(count):
        writer.record(rec)
    stop = False
    slices = 0

    async def burn() -> None:
        nonlocal slices
        while not stop:
            until = time.perf_counter() + 0.001
            while time.perf_counter() < until:
                sum(range(100))
            slices += 1
            await asyncio.sleep(0)

    burner = asyncio.create_task(burn()) if busy else None
    started, cpu = time.perf_counter(), time.process_time()
    await writer.start()
    while writer.written < count:  # noqa: ASYNC110  (a counter, no event to wait on)
        await asyncio.sleep(0.01)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    stop = True
    if burner is not None:
        await burner
    await writer.drain()
    print(
        f"{count / wall:.0f} records/s written ({count} in {wall:.1f} s, batch {batch}, "
        f"{'busy' if busy else 'idle'} loop: {slices / wall:.0f} 1-ms slices/s), "
        f"dropped {writer.dropped}; process CPU {cpu / count * 1e6:.0f} us per record"
    )


if __name__ == "__main__":
    main()
