"""CPU a coding agent's request costs the server, in process: issue #67's agent goal.

    .venv/bin/python bench/agent_cpu.py [--requests 40] [--top 25] [--session]
        [--profile bare|governed] [--source DIR]

The ASGI application the server runs answers ``bench/agent_body.py``'s 150 KB tool loop
(a 12 KB system prompt, 20 tools, 100 turns: 202 messages) one request at a time, in this
process, against bench/mock_upstream.py, on both paths the goal names: passed through
(OpenAI in, OpenAI out) and translated (Anthropic in, OpenAI out). Body logging and its
redaction are on and the journal writes to SQLite, as ``serve`` runs (the counter service
in a thread of this process, as ``bench/calls_per_request.py`` starts it).

Two passes a cell, after a warm-up:

- **CPU a request**: the process's CPU time (every thread: the event loop's and the
  journal writer's) over ``--requests`` requests, up to the journal drained of them,
  divided by the requests. No profiler runs in this pass. On a machine shared with other
  work this is the steadier figure (other processes take wall time, not this process's
  CPU); it is still not the server's figure (no HTTP protocol, no second worker).
  Repeated ``--rounds`` times; the least is reported (others' load only ever adds).
- **The profile**: cProfile over as many requests, the event loop's thread and the
  journal writer's thread apart, timed by each thread's CPU clock, with the Python
  calls a request (deterministic: it does not move with the machine's load) and the
  ``--top`` functions by own time (the profiler's own cost inflates them: compare
  shares and counts, not these times with the CPU a request).

``--session`` sends a session's requests instead of one body again and again: request i
is the tool loop at turn 100 - requests + i, so each shares the one before's prefix and
adds a call and its result, as an agent's next turn does (what any memory of earlier
turns meets in production). Without it, every request is the same body, as
``bench/run.py --only-mode agent`` sends it."""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import agent_body  # noqa: E402
import calls_per_request as calls  # noqa: E402  (the request, the scope, the profiles)
import run  # noqa: E402  (bench/run.py: the same mock, route, filter and limits)

TURNS = 100
if not Path(run.PYTHON).exists():  # a worktree without its own .venv: this interpreter
    run.PYTHON = sys.executable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="requests a pass")
    parser.add_argument("--warmup", type=int, default=10, help="requests before the passes")
    parser.add_argument("--rounds", type=int, default=5, help="CPU passes (the least kept)")
    parser.add_argument("--top", type=int, default=20, help="functions listed by own time")
    parser.add_argument("--profile", choices=("bare", "governed"), default="bare")
    parser.add_argument("--session", action="store_true", help="a session's growing turns")
    parser.add_argument("--only", choices=tuple(CELLS), help="one cell")
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    parser.add_argument("--dump", metavar="DIR", help="write each cell's profiles to DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-agent-") as folder:
        print(measure(args, Path(folder)))


def measure(args: argparse.Namespace, workdir: Path) -> str:
    return calls.in_process(workdir, args.source, lambda p, s: _measure(args, p, s))


# the cells: the path sent to (calls.PATHS) and the route (its upstream's dialect)
CELLS = {
    "openai": ("openai", run.ROUTE, "passthrough (OpenAI in, OpenAI out)"),
    "anthropic": ("anthropic", run.ROUTE, "translated (Anthropic in, OpenAI out)"),
    "anthropic-native": (
        "anthropic",
        run.ROUTE + "-anthropic",
        "passthrough (Anthropic in, Anthropic out)",
    ),
}


def _bodies(dialect: str, route: str, count: int, session: bool) -> list[bytes]:
    make = agent_body.anthropic_body if dialect == "anthropic" else agent_body.openai_body
    if not session:
        return [make(TURNS, model=route)] * count
    return [make(TURNS - count + 1 + i, model=route) for i in range(count)]


async def _measure(args: argparse.Namespace, mock_port: int, socket: Path) -> str:
    application, keys = await calls.started(mock_port, socket)
    from gateway import journal

    key = keys[args.profile]
    writer = journal.writer()
    plain_write = writer.write
    writer_profile: list[cProfile.Profile | None] = [None]

    def profiled_write(batch: list[Any], **kwargs: Any) -> list[int]:
        recorder = writer_profile[0]
        if recorder is None:
            return plain_write(batch, **kwargs)
        recorder.enable()
        try:
            return plain_write(batch, **kwargs)
        finally:
            recorder.disable()

    writer.write = profiled_write

    lines = [
        f"Agent requests in process ({args.profile}, {args.requests} requests a pass, "
        f"{'a session of growing turns' if args.session else 'one body again'}; "
        f"body logging on):",
        "",
        "| path | body KB | CPU ms a request (all threads; least, rounds) | Python calls a "
        "request: loop / writer |",
        "|---|---:|---:|---:|",
    ]
    details: list[str] = []
    for cell, (dialect, route, name) in CELLS.items():
        if args.only and cell != args.only:
            continue
        path, extra = calls.PATHS[dialect]
        warm = _bodies(dialect, route, args.warmup, args.session)
        bodies = _bodies(dialect, route, args.requests, args.session)

        async def send(body: bytes, recorder: cProfile.Profile | None) -> None:
            scope = calls._scope(path, body, key, extra)  # noqa: B023
            await calls._one(application, scope, body, recorder)

        for body in warm:
            await send(body, None)
        await journal.drain()
        await journal.start()
        # CPU a request: no profiler; every thread, up to the journal drained; the
        # least of the rounds (another process's load adds to a round, never takes off)
        cpu: list[float] = []
        for _ in range(args.rounds):
            started = time.process_time()
            for body in bodies:
                await send(body, None)
            await journal.drain()
            cpu.append((time.process_time() - started) * 1000 / len(bodies))
            await journal.start()
        cpu_ms = min(cpu)
        # the profile: the loop's thread and the writer's apart, in each thread's CPU
        # time (not the wall clock, which counts the time other processes ran)
        loop_profile = cProfile.Profile(time.thread_time)
        writer_profile[0] = cProfile.Profile(time.thread_time)
        for body in bodies:
            await send(body, loop_profile)
        await journal.drain()
        await journal.start()
        written = writer_profile[0]
        writer_profile[0] = None
        loop_stats = pstats.Stats(loop_profile)
        writer_stats = pstats.Stats(written)
        per = len(bodies)
        loop_calls = calls._calls(loop_stats) / per
        writer_calls = calls._calls(writer_stats) / per
        size = sum(map(len, bodies)) / per / 1024
        lines.append(
            f"| {name} | {size:.0f} | {cpu_ms:.2f} ({', '.join(f'{c:.2f}' for c in cpu)}) | "
            f"{loop_calls:.0f} / {writer_calls:.0f} |"
        )
        for label, stats in (("event loop", loop_stats), ("journal writer", writer_stats)):
            details += ["", f"{name}, {label}: top {args.top} by own time", ""]
            details.append(_top(stats, args.top, per))
        if args.dump:
            loop_stats.dump_stats(str(Path(args.dump) / f"agent-{cell}-loop.prof"))
            writer_stats.dump_stats(str(Path(args.dump) / f"agent-{cell}-writer.prof"))
    return "\n".join(lines + details)


def _top(stats: pstats.Stats, count: int, per: int) -> str:
    """The ``count`` functions with the most own time: calls and µs a request."""
    table = stats.stats  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in table.values()) or 1.0
    ranked = sorted(table.items(), key=lambda item: -item[1][2])[:count]
    out = io.StringIO()
    out.write(f"    {'calls':>8} {'own µs':>8} {'cum µs':>8} {'own %':>6}  function\n")
    for (file, line, function), (_cc, nc, tt, ct, _callers) in ranked:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        out.write(
            f"    {nc / per:8.1f} {tt * 1e6 / per:8.1f} {ct * 1e6 / per:8.1f} "
            f"{100 * tt / total:5.1f}%  {where}({function})\n"
        )
    return out.getvalue().rstrip()


if __name__ == "__main__":
    main()
