"""What guardrails cost a request, in process (deterministic call counts beside timings).

    .venv/bin/python bench/guardrails_overhead.py [--requests 300] [--rounds 3]

The ASGI application the server runs (``gateway.server.asgi.application``) answers requests
one at a time against bench/mock_upstream.py (20 streamed tokens), on the OpenAI chat
path, in five settings:

- ``none``: no guardrail defined (the quick start);
- ``defined``: a guardrail defined but attached to nothing this request uses;
- ``pre_call``: a content filter (an e-mail MASK pattern, an SSN BLOCK pattern, two
  blocked words) on the route, ``pre_call``, plain request;
- ``stream``: no guardrail, streamed request (the baseline of the next);
- ``post_call stream``: the same content filter ``post_call`` on the route, streamed.

For each: Python calls per request (cProfile, from the request reaching the application
to the last byte of the answer) and microseconds per request without the profiler
(median of ``--rounds`` rounds; wall clock in one process on a shared machine is noisy,
the call counts are not), and for streams the time to the first token.
Prints a Markdown table (and writes bench/results/guardrails_overhead.md)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.base.asgi import Message, Scope

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the same mock and route name)
from mock_upstream import MARKER as MARKER_TEXT  # noqa: E402

MARKER = MARKER_TEXT.encode()

ADMIN_KEY = "sy-bench-admin-master-key-0123456789"
FILTER = {
    "patterns": [
        {"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"},
        {"pattern_type": "prebuilt", "pattern_name": "us_ssn", "action": "BLOCK"},
    ],
    "blocked_words": [
        {"keyword": "confidential", "action": "BLOCK"},
        {"keyword": "internal only", "action": "BLOCK"},
    ],
}
SETTINGS = ("none", "defined", "pre_call", "stream", "post_call stream")


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, float]]:
    log = open(workdir / "mock.log", "w")  # noqa: SIM115
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    os.environ.update(
        SWITCHYARD_DATA_DIR=str(workdir / "data"),
        SWITCHYARD_MASTER_KEY=ADMIN_KEY,
        SWITCHYARD_LOG_BODIES="1",
        DJANGO_SETTINGS_MODULE="gateway.server.settings",
        DEBUG="0",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
        from django.db import connections

        from gateway import journal
        from gateway.access import registry
        from gateway.models import Deployment, Guardrail, Provider, Route
        from gateway.server.asgi import application

        journal.record = lambda entry: None
        provider = Provider(
            name="mock", kind=Provider.Kind.OPENAI, base_url=f"http://127.0.0.1:{mock_port}/v1"
        )
        provider.set_secret("sk-mock-upstream-key-0000")
        provider.save()
        route = Route.objects.create(name=run.ROUTE)
        Deployment.objects.create(route=route, provider=provider, model="bench-model")

        def configure(setting: str) -> None:
            Guardrail.objects.all().delete()
            Route.objects.filter(pk=route.pk).update(guardrails=[])
            if setting != "none" and setting != "stream":
                mode = "post_call" if "post_call" in setting else "pre_call"
                Guardrail.objects.create(
                    name="filter", kind="litellm_content_filter", modes=[mode], params=FILTER
                )
                if setting != "defined":
                    Route.objects.filter(pk=route.pk).update(guardrails=["filter"])
            registry.rebuild()
            connections.close_all()

        def scope(body: bytes) -> Scope:
            return {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/v1/chat/completions",
                "raw_path": b"/v1/chat/completions",
                "query_string": b"",
                "root_path": "",
                "headers": [
                    (b"host", b"127.0.0.1"),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"authorization", f"Bearer {ADMIN_KEY}".encode()),
                ],
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 4000),
            }

        async def one(body: bytes, profile: cProfile.Profile | None) -> float:
            """One request; the seconds to the first token (the body chunk that carries
            the mock's ``MARKER``, as bench/run.py times it: a role chunk sent ahead
            of it is no token)."""
            sent = asyncio.Event()
            status: list[int] = []
            given = False
            started = time.perf_counter()
            first: list[float] = []

            async def receive() -> Message:
                nonlocal given
                if not given:
                    given = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await sent.wait()
                return {"type": "http.disconnect"}

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                elif message["type"] == "http.response.body":
                    if not first and MARKER in message.get("body", b""):
                        first.append(time.perf_counter() - started)
                    if not message.get("more_body"):
                        if profile is not None:
                            profile.disable()
                        sent.set()

            if profile is not None:
                profile.enable()
            await application(scope(body), receive, send)
            if profile is not None:
                profile.disable()
            assert status == [200], status
            return first[0] if first else 0.0

        def calls(profile: cProfile.Profile) -> int:
            stats = pstats.Stats(profile)
            return sum(nc for (_cc, nc, _tt, _ct, _callers) in stats.stats.values())  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats

        async def run_all() -> dict[str, dict[str, float]]:
            results: dict[str, dict[str, list[float]]] = {s: {} for s in SETTINGS}
            for round_no in range(args.rounds):
                order = SETTINGS if round_no % 2 == 0 else tuple(reversed(SETTINGS))
                for setting in order:
                    await asyncio.to_thread(configure, setting)
                    stream = "stream" in setting
                    payload = {"model": run.ROUTE, "max_tokens": 64, "messages": run.MESSAGES}
                    if stream:
                        payload["stream"] = True
                    body = json.dumps(payload).encode()
                    for _ in range(30):  # warm up
                        await one(body, None)
                    profile = cProfile.Profile()
                    for _ in range(args.requests // 3):
                        await one(body, profile)
                    firsts = []
                    started = time.perf_counter()
                    for _ in range(args.requests):
                        firsts.append(await one(body, None))
                    elapsed = time.perf_counter() - started
                    cell = results[setting]
                    cell.setdefault("calls", []).append(calls(profile) / (args.requests // 3))
                    cell.setdefault("us", []).append(1e6 * elapsed / args.requests)
                    cell.setdefault("first_us", []).append(1e6 * statistics.median(firsts))
            return {
                s: {name: statistics.median(values) for name, values in cell.items()}
                for s, cell in results.items()
            }

        connections.close_all()
        return asyncio.run(run_all())
    finally:
        mock.terminate()
        mock.wait()
        log.close()


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    load = os.getloadavg()
    lines = [
        f"Guardrails, in process on the OpenAI chat path ({args.requests} requests a cell, "
        f"median of {args.rounds} alternating rounds), {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} at the end.",
        "",
        "| setting | Python calls / request | µs / request | µs to the first token |",
        "|---|---:|---:|---:|",
    ]
    for setting in SETTINGS:
        cell = results[setting]
        lines.append(
            f"| {setting} | {cell['calls']:.0f} | {cell['us']:.0f} | {cell['first_us']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-guard-") as folder:
        results = measure(args, Path(folder))
    text = report(results, args)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "guardrails_overhead.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
