"""Python calls per request, bare and governed: the deterministic side of bench/run.py.

    .venv/bin/python bench/calls_per_request.py [--requests 60] [--top 25] [--upstream anthropic]

The ASGI application the server runs answers requests one at a time, in this process,
against bench/mock_upstream.py, on both dialects (OpenAI chat and Anthropic messages to
an OpenAI upstream, or with ``--upstream anthropic`` to the mock as an Anthropic one),
plain and streamed, in bench/run.py's two profiles:

- ``bare``: the master key, nothing configured but the route;
- ``governed``: a key of a team, both with a budget and rpm/tpm limits far above the
  load, allowed routes, a content-filter guardrail on the key (pre_call, and post_call
  on streams), an MCP server registered and unused.

Body logging and the journal are on, as in bench/run.py, and limits are counted as
``serve`` counts them: by a counter service (here in a thread of this process, out of
the profile), each request admitted from what this process leased of its limits, with
tokens counted there too. cProfile counts every Python call from the request reaching
the application to the last byte of its answer: the count does not move with the
machine's load, so a change to the hot path is measured by it before and after (``--source`` a ``git archive`` of the other tree). ``--top``
lists the functions whose call counts differ most between the profiles.

Two more counts, each from passes of their own: a stream's calls to its first body
chunk (what its first token waits for), and the calls after the last byte until the
application returns (work the client does not wait for, but the worker still does:
moved there, work is not gone)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the same mock, route, filter and limits)

ADMIN_KEY = run.ADMIN_KEY
PATHS = {
    "openai": ("/v1/chat/completions", []),
    "anthropic": ("/v1/messages", [(b"anthropic-version", b"2023-06-01")]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="profiled requests a cell")
    parser.add_argument("--top", type=int, default=0, help="functions that differ most")
    parser.add_argument("--by-module", action="store_true", help="--top by module")
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    parser.add_argument("--dump", metavar="DIR", help="write each cell's profile to DIR")
    parser.add_argument(
        "--upstream",
        choices=["openai", "anthropic"],
        default="openai",
        help="the upstream's format: anthropic answers Anthropic clients by passthrough "
        "and OpenAI ones translated (the route bench/pair.py's anthropic-native sends to)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-calls-") as folder:
        print(measure(args, Path(folder)))


def measure(args: argparse.Namespace, workdir: Path) -> str:
    return in_process(workdir, args.source, lambda port, socket: _measure(args, port, socket))


def in_process(
    workdir: Path, source: str, measuring: Callable[[int, Path], Coroutine[Any, Any, str]]
) -> str:
    """Run ``measuring(mock port, counter socket)`` against bench/mock_upstream.py with
    this process set up as bench/run.py's server is (SQLite in ``workdir``, body logging
    on, no Redis, no plugin, the tree at ``source`` imported)."""
    log = open(workdir / "mock.log", "w")  # noqa: SIM115
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    os.environ.update(
        SWITCHYARD_DATA_DIR=str(workdir / "data"),
        SWITCHYARD_MASTER_KEY=ADMIN_KEY,
        SWITCHYARD_LOG_BODIES="1",
        DJANGO_SETTINGS_MODULE="gateway.server.settings",
        DEBUG="0",
        # the gateway as shipped, as bench/run.py serves it: not the test environment's
        # example plugin (its request callback queued an outcome a request to a thread)
        SWITCHYARD_PLUGINS="none",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(Path(source).resolve()))
    try:
        return asyncio.run(measuring(mock_port, workdir / "counters.sock"))
    finally:
        mock.terminate()
        mock.wait()
        log.close()


async def started(mock_port: int, socket: Path) -> tuple[Any, dict[str, str]]:
    """Django set up, limits counted as ``serve`` counts them (by a counter service, here
    in a thread of this process; each worker admitting from what it leased), the
    database migrated, the route and the profiles made: (the ASGI application, the key
    of each profile)."""
    import django

    django.setup()
    from gateway.apps import COUNTER_BOOKS
    from gateway.server.supervisor import Plan, start_service

    refused = start_service(
        Plan(app="", workers=1, socket=str(socket), share_limits=True, books=[*COUNTER_BOOKS])
    )
    if refused is not None:
        raise SystemExit(f"the counter service did not start: {refused}")
    from asgiref.sync import sync_to_async
    from django.core.management import call_command

    await sync_to_async(call_command)("migrate", "--no-input", verbosity=0)
    from gateway.server.asgi import application

    return application, await sync_to_async(_configure)(mock_port)


async def _measure(args: argparse.Namespace, mock_port: int, socket: Path) -> str:
    application, keys = await started(mock_port, socket)
    counts: dict[tuple[str, str, str], float] = {}
    partial: dict[tuple[str, str, str, str], float] = {}  # to the first chunk; to the end
    profiles: dict[tuple[str, str, str], pstats.Stats] = {}
    route = run.ROUTE + "-anthropic" if args.upstream == "anthropic" else run.ROUTE
    for profile, key in keys.items():
        for dialect, (path, extra) in PATHS.items():
            for stream in (False, True):
                body = {"model": route, "max_tokens": 64, "messages": run.MESSAGES}
                if stream:
                    body["stream"] = True
                raw = json.dumps(body).encode()
                scope = _scope(path, raw, key, extra)
                for _ in range(20):  # warm up: pools, caches, lazy imports
                    await _one(application, scope, raw, None)
                recorder = cProfile.Profile()
                for _ in range(args.requests):
                    await _one(application, scope, raw, recorder)
                stats = pstats.Stats(recorder)
                cell = (profile, dialect, "stream" if stream else "plain")
                counts[cell] = _calls(stats) / args.requests
                profiles[cell] = stats
                for until in ("first", "end") if stream else ("end",):
                    recorder = cProfile.Profile()
                    for _ in range(args.requests):
                        await _one(application, scope, raw, recorder, until)
                    partial[(*cell, until)] = _calls(pstats.Stats(recorder)) / args.requests
                if args.dump:
                    stats.dump_stats(str(Path(args.dump) / ("-".join(cell) + ".prof")))
    return _report(counts, partial, profiles, args)


def _configure(mock_port: int) -> dict[str, str]:
    """The route, and the governed profile's team, guardrail, MCP server and key."""
    from gateway.access import keys, registry
    from gateway.models import Deployment, Guardrail, McpServer, Provider, Route, Team

    provider = Provider(
        name="mock", kind=Provider.Kind.OPENAI, base_url=f"http://127.0.0.1:{mock_port}/v1"
    )
    provider.set_secret("sk-mock-upstream-key-0000")
    provider.save()
    route = Route.objects.create(name=run.ROUTE)
    Deployment.objects.create(
        route=route, provider=provider, model="bench-model", input_price="2.5", output_price="10"
    )
    # the same mock as an Anthropic upstream: Anthropic in, Anthropic out (Claude Code's)
    native = Provider(
        name="mock-anthropic", kind="anthropic", base_url=f"http://127.0.0.1:{mock_port}"
    )
    native.set_secret("sk-ant-mock-upstream-key-0000")
    native.save()
    Deployment.objects.create(
        route=Route.objects.create(name=run.ROUTE + "-anthropic"),
        provider=native,
        model="bench-model",
        input_price="2.5",
        output_price="10",
    )
    Guardrail.objects.create(
        name="bench-filter",
        kind="litellm_content_filter",
        modes=["pre_call", "post_call"],
        params=run.CONTENT_FILTER,
    )
    Team.objects.create(name="bench-team", budget_usd="100000", rpm_limit=run.UNREACHED)
    McpServer.objects.create(name="unused", url="http://127.0.0.1:9/mcp")
    governed = keys.create_key(
        name="bench-governed",
        team="bench-team",
        routes=[run.ROUTE, run.ROUTE + "-anthropic"],
        rpm_limit=run.UNREACHED,
        tpm_limit=run.UNREACHED,
        budget_usd="100000",
        guardrails=["bench-filter"],
    )
    registry.rebuild()
    return {"bare": ADMIN_KEY, "governed": governed.raw}


def _scope(path: str, body: bytes, key: str, extra: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {key}".encode()),
            *extra,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4000),
    }


async def _one(
    application: Any,
    scope: dict[str, Any],
    body: bytes,
    recorder: cProfile.Profile | None,
    until: str = "last",
) -> None:
    """One request; ``recorder`` counts until the ``last`` byte, the ``first`` body
    chunk, or the ``end`` of the application's call."""
    sent = asyncio.Event()
    status: list[int] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await sent.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] != "http.response.body":
            return
        elif not message.get("more_body"):
            if recorder is not None and until != "end":
                recorder.disable()
            sent.set()
        elif until == "first" and recorder is not None and message.get("body"):
            recorder.disable()

    if recorder is not None:
        recorder.enable()
    await application(dict(scope), receive, send)
    if recorder is not None:
        recorder.disable()
    if status != [200]:
        raise SystemExit(f"{scope['path']}: status {status}")


def _calls(stats: pstats.Stats) -> int:
    table = stats.stats  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats
    return sum(nc for (_cc, nc, _tt, _ct, _callers) in table.values())


def _report(
    counts: dict[tuple[str, str, str], float],
    partial: dict[tuple[str, str, str, str], float],
    profiles: dict[tuple[str, str, str], pstats.Stats],
    args: argparse.Namespace,
) -> str:
    lines = [
        f"Python calls per request, in process ({args.requests} requests a cell, "
        f"{args.upstream} upstream), to the last byte (a stream's to its first chunk; after the last byte):",
        "",
        "| dialect | mode | bare | governed | governed - bare |",
        "|---|---|---:|---:|---:|",
    ]

    def more(profile: str, cell: tuple[str, str]) -> str:
        last = counts[(profile, *cell)]
        first = partial.get((profile, *cell, "first"))
        after = partial[(profile, *cell, "end")] - last
        return (f"{first:.0f}; " if first is not None else "") + f"+{max(0.0, after):.0f}"

    for dialect in PATHS:
        for mode in ("plain", "stream"):
            bare, governed = counts[("bare", dialect, mode)], counts[("governed", dialect, mode)]
            lines.append(
                f"| {dialect} | {mode} | {bare:.0f} ({more('bare', (dialect, mode))}) | "
                f"{governed:.0f} ({more('governed', (dialect, mode))}) | {governed - bare:+.0f} |"
            )
    if args.top:
        for dialect in PATHS:
            for mode in ("plain", "stream"):
                lines += ["", f"Differing most, {dialect} {mode} (calls per request):", ""]
                lines += _top_difference(
                    profiles[("bare", dialect, mode)],
                    profiles[("governed", dialect, mode)],
                    args,
                )
    return "\n".join(lines)


def _top_difference(
    bare: pstats.Stats, governed: pstats.Stats, args: argparse.Namespace
) -> list[str]:
    def per_function(stats: pstats.Stats) -> dict[str, float]:
        table = stats.stats  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats
        out: dict[str, float] = {}
        for (file, line, name), (_cc, nc, _tt, _ct, _callers) in table.items():
            where = (
                f"{Path(file).parent.name}/{Path(file).name}"
                if args.by_module
                else f"{Path(file).name}:{line}:{name}"
            )
            out[where] = out.get(where, 0.0) + nc / args.requests
        return out

    before, after = per_function(bare), per_function(governed)
    names = set(before) | set(after)
    ranked = sorted(names, key=lambda n: -abs(after.get(n, 0) - before.get(n, 0)))
    return [f"    {after.get(n, 0) - before.get(n, 0):+7.1f}  {n}" for n in ranked[: args.top]]


if __name__ == "__main__":
    main()
