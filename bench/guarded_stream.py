"""What a streamed answer's post_call check costs, in process: the governed stream's own
part of bench/run.py's governed ÷ bare.

    .venv/bin/python bench/guarded_stream.py [--rounds 7] [--streams 300] [--top 0]
        [--reads one|event] [--source DIR]

bench/mock_upstream.py's OpenAI stream (a role chunk, 20 content tokens, the finish,
the usage chunk, ``[DONE]``) read from an ``httpx.MockTransport`` in one read (what the
mock's answer is on a loopback socket) or an event a read (``--reads event``), through:

- ``passed``: the passed-through stream (OpenAI in, OpenAI out), bare
  (``passthrough_stream``, skimmed, as the bare profile serves it) against checked
  (``passthrough_pieces`` + ``guardrails.passed.guarded``);
- ``translated``: the same stream's canonical events (``stream``, an ``EventBatches`` a
  read a batch) bare against checked (``guardrails.stream.guarded``), what the Anthropic
  client of an OpenAI upstream pays.

The check is the governed profile's: bench/run.py's content filter (two prebuilt
patterns, two blocked words) as its only post_call guardrail. For each: the thread's
CPU a stream (least and median of ``--rounds``, each ``--streams`` streams), the
Python calls a stream (cProfile: they do not move with the machine's load), and the
first item's CPU and calls (what the first token waits for). ``--top N`` lists the
functions whose calls differ most between bare and checked; ``--source`` loads another
tree (a ``git archive`` of main, say) with this script's bench files."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import mock_upstream  # noqa: E402  (the stream the governed cells answer)
import run  # noqa: E402  (the governed profile's content filter)

Source = Callable[[], AsyncIterator[Any]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--streams", type=int, default=300, help="streams a round")
    parser.add_argument("--top", type=int, default=0, help="functions that differ most")
    parser.add_argument("--reads", choices=["one", "event"], default="one")
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.source).resolve()))
    with tempfile.TemporaryDirectory(prefix="sy-guarded-") as folder:
        os.environ.update(
            SWITCHYARD_DATA_DIR=folder,
            DJANGO_SETTINGS_MODULE="gateway.server.settings",
            DEBUG="0",
        )
        import django

        django.setup()
        print(asyncio.run(measure(args)))


def stream_body() -> bytes:
    """The mock's OpenAI stream as its body: the HTTP head and chunk framing taken off."""
    rest = mock_upstream.openai_stream().partition(b"\r\n\r\n")[2]
    body: list[bytes] = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return b"".join(body)
        body.append(rest[:size])
        rest = rest[size + 2 :]


class Run:
    """What the checks read of a request's guardrails (``guardrails.stream.Run``): a
    request's own notes, the snapshot's one entry (as a server's requests share it)."""

    entries: list[Any] = []

    def __init__(self) -> None:
        from gateway.base.entries import GuardrailEntry
        from gateway.features.guardrails import engine

        if not Run.entries:
            Run.entries.append(
                GuardrailEntry(
                    id=1,
                    name="bench-filter",
                    kind="litellm_content_filter",
                    modes=frozenset({"pre_call", "post_call"}),
                    params=run.CONTENT_FILTER,
                )
            )
        self.post = Run.entries
        self.notes = engine.Notes()
        self.withhold_response = False
        self.job = None

    def context(self, input_type: str, mode: str) -> Any:
        from gateway.features.guardrails.kinds import Context

        return Context(input_type=input_type, mode=mode)  # type: ignore[arg-type]


def sources(raw: bytes, per_event: bool) -> dict[str, tuple[Source, Source]]:
    """Each path's (bare, checked) stream makers."""
    import httpx

    from gateway.base import http
    from gateway.features.guardrails import passed, stream
    from gateway.providers.base import Exchange
    from gateway.providers.openai_compatible import OpenAICompatibleProvider
    from tests.gateway.providers import test_openai_compatible as case
    from tests.gateway.providers.test_passthrough_skim import reads

    http.use_transport(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=reads(raw, per_event)
            )
        )
    )
    adapter = OpenAICompatibleProvider(case.provider_entry())
    deployment = case.deployment()
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [], "stream": True}
    codec: Any = adapter.speaks.upstream  # the codec: its stream editor
    chat = _request()

    def passed_bare() -> AsyncIterator[Any]:
        return adapter.passthrough_stream(body, deployment, Exchange(), {}, skim=True)

    def passed_checked() -> AsyncIterator[Any]:
        editor = codec.stream_editor(body)
        pieces = adapter.passthrough_pieces(body, deployment, Exchange(), {}, editor)
        return passed.guarded(Run(), pieces, editor)

    def translated_bare() -> AsyncIterator[Any]:
        return _batches(adapter.stream(chat, deployment, Exchange()))

    def translated_checked() -> AsyncIterator[Any]:
        return _batches(stream.guarded(Run(), adapter.stream(chat, deployment, Exchange())))

    return {
        "passed": (passed_bare, passed_checked),
        "translated": (translated_bare, translated_checked),
    }


def _request() -> Any:
    from gateway.base import types as t

    return t.ChatRequest(
        model="gpt-4o", messages=[t.Message("user", [t.Text("Hi")])], stream=True, max_tokens=64
    )


async def _batches(events: Any) -> AsyncIterator[Any]:
    """A translated stream a batch at a time, as the translated pump reads it."""
    ready = events.take_ready()
    if ready:
        yield ready
    async for batch in events.batches():
        yield batch


async def _drain(make: Source, recorder: cProfile.Profile | None = None) -> int:
    """One stream read to its end: the items it came in."""
    items = 0
    iterator = make()
    if recorder is not None:
        recorder.enable()
    async for _ in iterator:
        items += 1
    if recorder is not None:
        recorder.disable()
    return items


async def _first(make: Source, recorder: cProfile.Profile | None = None) -> float:
    """One stream, counted (``recorder``) to its first item: the thread's CPU to it."""
    iterator = make()
    if recorder is not None:
        recorder.enable()
    start = time.thread_time()
    await iterator.__anext__()
    spent = time.thread_time() - start
    if recorder is not None:
        recorder.disable()
    async for _ in iterator:
        pass
    return spent


async def measure(args: argparse.Namespace) -> str:
    raw = stream_body()
    lines = [
        f"The mock's stream ({len(raw)} bytes, {args.reads} read{'s' if args.reads == 'event' else ''}"
        f"), in process; {args.rounds} rounds of {args.streams} streams (load average "
        f"{os.getloadavg()[0]:.2f}):",
        "",
        "| path | profile | items | CPU µs a stream (least; median) | calls a stream "
        "| to the first item: CPU µs (median), calls |",
        "|---|---|---:|---:|---:|---:|",
    ]
    profiles: dict[tuple[str, str], pstats.Stats] = {}
    for path, makers in sources(raw, args.reads == "event").items():
        for profile, make in zip(("bare", "checked"), makers, strict=True):
            for _ in range(50):  # warm up: imports, compiled patterns
                items = await _drain(make)
            times = []
            for _ in range(args.rounds):
                start = time.thread_time()
                for _ in range(args.streams):
                    await _drain(make)
                times.append((time.thread_time() - start) / args.streams * 1e6)
            counts = 30
            recorder = cProfile.Profile()
            for _ in range(counts):
                await _drain(make, recorder)
            stats = pstats.Stats(recorder)
            profiles[(path, profile)] = stats
            firsts = [await _first(make) for _ in range(args.streams)]
            first = cProfile.Profile()
            for _ in range(counts):
                await _first(make, first)
            lines.append(
                f"| {path} | {profile} | {items} | {min(times):.1f}; {statistics.median(times):.1f} "
                f"| {_calls(stats) / counts:.0f} | {statistics.median(firsts) * 1e6:.1f}, "
                f"{_calls(pstats.Stats(first)) / counts:.0f} |"
            )
    if args.top:
        for path in ("passed", "translated"):
            lines += ["", f"Differing most, {path} (calls a stream, checked - bare):", ""]
            lines += _top(profiles[(path, "bare")], profiles[(path, "checked")], args.top, 30)
    return "\n".join(lines)


def _calls(stats: pstats.Stats) -> int:
    table = stats.stats  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats
    return sum(nc for (_cc, nc, _tt, _ct, _callers) in table.values())


def _top(bare: pstats.Stats, checked: pstats.Stats, top: int, streams: int) -> list[str]:
    def per_function(stats: pstats.Stats) -> dict[str, float]:
        table = stats.stats  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats
        out: dict[str, float] = {}
        for (file, line, name), (_cc, nc, _tt, _ct, _callers) in table.items():
            where = f"{Path(file).name}:{line}:{name}"
            out[where] = out.get(where, 0.0) + nc / streams
        return out

    before, after = per_function(bare), per_function(checked)
    ranked = sorted(
        set(before) | set(after), key=lambda n: -abs(after.get(n, 0) - before.get(n, 0))
    )
    return [f"    {after.get(n, 0) - before.get(n, 0):+7.1f}  {n}" for n in ranked[:top]]


if __name__ == "__main__":
    main()
