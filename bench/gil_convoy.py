"""How long an event loop waits for the interpreter lock while threads of its process
compute: the round trip of a one-byte ping to an asyncio (uvloop) server whose process
also runs ``--threads`` threads looping in Python, per ``sys.setswitchinterval``.

    python bench/gil_convoy.py [--pings 600] [--intervals 5 1 0.5] [--threads 0 1 2]

The loop gives the lock up at each wait for I/O and a computing thread takes it at
once; when the ping arrives the loop waits until the thread is made to give it back, a
whole switch interval (CPython's default 5 ms). A console page built in a thread of the
API's process (``serve --role all``) or the journal's writer building a batch does the
same to every wake-up of ``/v1``'s loop: ``gateway.base.lifecycle.SERVING_SWITCH_INTERVAL``.
The server is on the first CPU, the client on the second (two needed); p50 is the
figure to read (it is the interval, whatever else runs), p99 carries the machine's load.
Bounded: ``--pings`` round trips per cell, a server that stops by itself."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.queues
import os
import socket
import statistics
import sys
import threading
import time

SERVER_SECONDS = 120.0  # the longest a cell's server lives


def compute(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(1000):
            total += i * i


def server(
    ports: multiprocessing.queues.Queue[int], interval: float, threads: int, cpu: int
) -> None:
    os.sched_setaffinity(0, {cpu})
    sys.setswitchinterval(interval)
    stop = threading.Event()
    for _ in range(threads):
        threading.Thread(target=compute, args=(stop,), daemon=True).start()
    import uvloop

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            await asyncio.sleep(0)  # a second wake-up, as a request has several
            writer.write(data)
            await writer.drain()

    async def main() -> None:
        listening = await asyncio.start_server(echo, "127.0.0.1", 0)
        ports.put(listening.sockets[0].getsockname()[1])
        await asyncio.sleep(SERVER_SECONDS)

    uvloop.run(main())


def pings(port: int, count: int) -> tuple[float, float]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(b"x")
            sock.recv(10)
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)  # the loop back in its wait
    times.sort()
    return statistics.median(times), times[int(0.99 * len(times))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pings", type=int, default=600)
    parser.add_argument("--intervals", type=float, nargs="+", default=[5.0, 1.0, 0.5])
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("needs two CPUs (the server's and the client's)")
    os.sched_setaffinity(0, {cpus[1]})
    print("| switch interval | computing threads | round trip p50 / p99 (ms) |")
    print("| --- | --- | --- |")
    for interval in args.intervals:
        for threads in args.threads:
            ports: multiprocessing.queues.Queue[int] = multiprocessing.Queue()
            process = multiprocessing.Process(
                target=server, args=(ports, interval / 1000, threads, cpus[0])
            )
            process.start()
            try:
                port = ports.get(timeout=30)
                time.sleep(0.3)
                p50, p99 = pings(port, args.pings)
            finally:
                process.terminate()
                process.join()
            print(f"| {interval:g} ms | {threads} | {p50:.2f} / {p99:.2f} |", flush=True)


if __name__ == "__main__":
    main()
