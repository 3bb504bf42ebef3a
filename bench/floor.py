"""The floor of a Python front: what the cheapest Python proxy costs a plain request on
this machine, measured like ``bench/run.py``'s cells (the same mock, wrk and
per-request CPU of the server's processes).

    .venv/bin/python bench/floor.py [--duration 4] [--concurrency 1 64] [--workers 2]

Each worker process is one uvloop protocol: httptools parses the request, orjson swaps
the route's model for the upstream's, the body goes to the mock over a kept-alive
connection, orjson reads the answer's usage, and the answer goes back. The second
row of each concurrency adds Switchyard's own journal (``gateway.journal.Writer`` on
SQLite, a ``Record`` with its four bodies a request, as with body logging on), run from
this tree. The third adds what a passthrough lane must look up besides: the caller's key
in the registry's snapshot (its SHA-256), the authorization decision on the route, the
route's deployment, the answer's cost at the deployment's prices and the request's
metrics. The fourth adds what a passthrough server of its own would still do for every
request: the body validated by the caller's codec (``parse_request``), its tokens
estimated, the key admitted against its limits and the reservation settled.

It is not a gateway: no keys, routes, limits, guardrails, errors, metrics or timeouts.
What Switchyard spends above these rows on the same machine is what its pipeline costs;
docs/benchmarks.md says what the figures meant for issue #44.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
UPSTREAM_MODEL = b"bench-model"


# --- the server (one per worker process) ----------------------------------------------


def serve(
    port: int, upstream_port: int, journal: bool, lookups: bool = False, admits: bool = False
) -> None:
    import httptools
    import orjson
    import uvloop

    writer: Any = None
    record_class: Any = None
    gateway: dict[str, Any] = {}
    if journal:
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from gateway.journal import Record, Writer

        writer, record_class = Writer(notify=False, prune_every=None), Record
    lookups = lookups or admits  # admission needs the key and the route it looks up
    if lookups:  # what a passthrough lane must do besides the floor and the journal
        from gateway.access import authorization, registry
        from gateway.base.types import Usage
        from gateway.telemetry import metrics

        registry.rebuild()
        gateway.update(
            registry=registry, decide=authorization.decide, observe=metrics.observe, usage=Usage
        )
    if admits:  # and what every governed request does besides (validated, admitted)
        from gateway import codecs
        from gateway.core import tokens
        from gateway.limits import limits

        gateway.update(
            parse=codecs.client("openai").parse_request,
            estimate=tokens.estimate_tokens,
            admit=limits.admit,
        )

    idle: list[Upstream] = []

    class Parsed(asyncio.Protocol):
        """A connection whose bytes go to an httptools parser, gathering one body."""

        def __init__(self, parser: Any) -> None:
            self.parser = parser(self)
            self.body = bytearray()
            self.transport: asyncio.Transport | None = None
            self.authorization = b""

        def on_header(self, name: bytes, value: bytes) -> None:
            if name.lower() == b"authorization":
                self.authorization = value

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # typeshed gives the BaseTransport every protocol kind shares; a stream
            # protocol's is a Transport (uvloop's subclasses no asyncio class: no isinstance)
            self.transport = cast(asyncio.Transport, transport)

        def on_body(self, chunk: bytes) -> None:
            self.body += chunk

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def taken(self) -> bytes:
            """The body gathered, the connection ready for the next."""
            body, self.body = bytes(self.body), bytearray()
            return body

    class Upstream(Parsed):
        """One kept-alive connection to the mock; one request at a time."""

        def __init__(self) -> None:
            super().__init__(httptools.HttpResponseParser)
            self.answer: asyncio.Future[bytes] | None = None

        def on_message_complete(self) -> None:
            body = self.taken()
            if self.answer is not None and not self.answer.done():
                self.answer.set_result(body)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.answer is not None and not self.answer.done():
                self.answer.set_exception(ConnectionError("upstream closed"))

    async def post(payload: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        if idle:
            upstream = idle.pop()
        else:
            _, upstream = await loop.create_connection(Upstream, "127.0.0.1", upstream_port)
        upstream.answer = loop.create_future()
        assert upstream.transport is not None
        upstream.transport.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"authorization: Bearer sk-mock-upstream-key-0000\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )
        answer = await upstream.answer
        idle.append(upstream)
        return answer

    class Front(Parsed):
        def __init__(self) -> None:
            super().__init__(httptools.HttpRequestParser)

        def on_message_complete(self) -> None:
            asyncio.get_running_loop().create_task(self.answer(self.taken()))

        def connection_lost(self, exc: Exception | None) -> None:
            self.transport = None

        async def answer(self, body: bytes) -> None:
            started = time.time()
            request = orjson.loads(body)
            route = request.get("model", "")
            key_name, cost, deployment = "master", None, None
            if gateway:  # the key, the decision, the route's deployment
                snapshot = gateway["registry"].current()
                token = self.authorization.decode("latin-1")[7:].strip()
                key = snapshot.key(token)
                entry = snapshot.route(route)
                if key is None or entry is None or not gateway["decide"](key, "route.call", entry):
                    raise SystemExit("the lookups front needs the master key and the route")
                key_name, deployment = key.name, entry.deployments[0]
                if "parse" in gateway:  # validated, estimated and admitted
                    parsed = gateway["parse"](request, {})
                    estimate = gateway["estimate"](parsed)
                    reservation = await gateway["admit"](key, route, estimate, None)
            request["model"] = UPSTREAM_MODEL.decode()
            upstream_body = orjson.dumps(request)
            answer = await post(upstream_body)
            usage = orjson.loads(answer).get("usage") or {}
            if deployment is not None:
                cost = deployment.cost(
                    gateway["usage"](
                        input_tokens=usage.get("prompt_tokens", 0),
                        output_tokens=usage.get("completion_tokens", 0),
                    )
                )
            if self.transport is not None:
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
            if writer is not None:
                record = record_class(
                    request_id=os.urandom(16).hex(),
                    created_at=started,
                    key_name=key_name,
                    dialect="openai",
                    endpoint="chat",
                    route=route,
                    provider="openai",
                    upstream_model=UPSTREAM_MODEL.decode(),
                    status=200,
                    latency_ms=(time.time() - started) * 1000,
                    input_tokens=usage.get("prompt_tokens", 0),
                    output_tokens=usage.get("completion_tokens", 0),
                    inbound_request=body,
                    upstream_request=upstream_body,
                    upstream_response=answer,
                    outbound_response=answer,
                )
                if cost is not None:
                    record.cost_usd = cost
                    gateway["observe"](record)
                if "parse" in gateway:
                    settle = reservation.settlement(
                        record.input_tokens + record.output_tokens, record.cost_usd
                    )
                    if settle is not None:
                        await settle
                writer.record(record)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Front, "127.0.0.1", port, reuse_port=True)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


# --- the measurement --------------------------------------------------------------------

FRONTS = {  # each row's name: its workers' flags
    "floor": [],
    "floor + journal": ["--journal"],
    "floor + journal + lookups": ["--journal", "--lookups"],
    "+ validation and admission": ["--journal", "--lookups", "--admits"],
}


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(BENCH))
    import run  # bench/run.py: the mock, wrk and the CPU readings

    work = Path(tempfile.mkdtemp(prefix="switchyard-floor-"))
    log = (work / "log").open("w")
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    body = run.body_file(work, stream=False)
    headers = ["Content-Type: application/json", f"Authorization: Bearer {run.ADMIN_KEY}"]
    env = {
        **os.environ,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "SWITCHYARD_DATA_DIR": str(work / "data"),
        "SWITCHYARD_LOG_BODIES": "1",
        "SWITCHYARD_MASTER_KEY": run.ADMIN_KEY,
        # the gateway as shipped: not the test environment's example plugin
        "SWITCHYARD_PLUGINS": "none",
    }
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0", "--skip-checks"],
        env=env,
        check=True,
        cwd=ROOT,
    )
    config = work / "litellm.yaml"  # the route the lookups front resolves, as bench/run.py's
    config.write_text(run.litellm_yaml(mock_port))
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "import_config", str(config)],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    print("| front | conc | RPS | p50 ms | p99 ms | server CPU ms/req | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for name, flags in FRONTS.items():
            port = run.free_port()
            command = [sys.executable, __file__, "--serve", str(port), "--upstream", str(mock_port)]
            workers = [subprocess.Popen([*command, *flags], env=env) for _ in range(args.workers)]
            try:
                run.wait_port(port)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                for concurrency in args.concurrency:
                    run.run_wrk(url, body, headers, concurrency, 1)  # warm-up
                    before = sum(run.cpu_seconds(w.pid) for w in workers)
                    cell = run.run_wrk(url, body, headers, concurrency, args.duration)
                    cpu = sum(run.cpu_seconds(w.pid) for w in workers) - before
                    done = cell["rps"] * round(args.duration)
                    print(
                        f"| {name} | {concurrency} | {cell['rps']:.0f} | {cell['p50_ms']:.2f} "
                        f"| {cell['p99_ms']:.2f} | {cpu / max(done, 1) * 1000:.3f} "
                        f"| {cell['errors']} |"
                    )
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(10)
    finally:
        mock.terminate()
        mock.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--journal", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lookups", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--admits", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.upstream, args.journal, args.lookups, args.admits)
    else:
        measure(args)


if __name__ == "__main__":
    main()
