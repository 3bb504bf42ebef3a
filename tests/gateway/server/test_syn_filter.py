"""A stopping server's listening socket completes no new connection: what waits in its
accept queue is still taken, a new client is refused once the socket closes, never
reset after sending its request; and only a server stopping as a whole does this to
the socket its workers share."""

from __future__ import annotations

import errno
import os
import socket
import sys
import time

import pytest
import uvicorn

from gateway.server import uvicorn_server
from gateway.server.syn_filter import refuse_new_connections

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a Linux socket filter")


def test_queued_connections_are_taken_and_new_ones_refused_not_reset() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))
    queued.sendall(b"waiting in the queue")
    time.sleep(0.05)
    assert refuse_new_connections(listener)
    late = socket.socket()
    late.setblocking(False)
    assert late.connect_ex(("127.0.0.1", port)) == errno.EINPROGRESS
    time.sleep(0.2)
    listener.setblocking(False)
    taken = []
    while True:
        try:
            taken.append(listener.accept()[0])
        except BlockingIOError:
            break
    assert len(taken) == 1  # the queued one; the late one was never completed
    assert taken[0].recv(100) == b"waiting in the queue"
    assert late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0  # still connecting
    listener.close()
    deadline = time.monotonic() + 5  # its SYN is sent again after about a second
    while late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) in (0, errno.ECONNREFUSED)
    for connection in (*taken, queued, late):
        connection.close()


def test_only_a_worker_whose_supervisor_stops_refuses_for_all() -> None:
    config = uvicorn.Config("gateway.server.asgi:application", lifespan="off")
    assert uvicorn_server.DrainingServer(config).stops_whole_server()  # alone on its socket
    assert not uvicorn_server.WorkerServer(config).stops_whole_server()
    stopping_r, stopping_w = os.pipe()
    try:
        worker = uvicorn_server.WorkerServer(config, stop_fd=stopping_r)
        assert not worker.stops_whole_server()  # retiring alone (SIGHUP): the others serve
        os.close(stopping_w)
        stopping_w = -1
        assert worker.stops_whole_server()  # the supervisor stops the server
    finally:
        os.close(stopping_r)
        if stopping_w >= 0:
            os.close(stopping_w)
