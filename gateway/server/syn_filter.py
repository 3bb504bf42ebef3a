"""Stop a listening socket from completing new connections while it stays open.

A server that stops accepting takes what waits in its accept queue, then closes the
listening socket (``uvicorn_server.DrainingServer.stop_accepting``). A connection the
kernel completes between the last accept and the close is reset with the socket (its
client already sent its request: "server disconnected without a response"), and under
a steady stream of new connections that window is hit now and then.

``refuse_new_connections`` closes the window on Linux: a classic BPF socket filter on
the listening socket drops every segment that opens a connection (SYN without ACK), so
the kernel completes no new connection; a handshake already under way still completes
(its ACK passes) and joins the queue. A client whose SYN was dropped retries it and is
refused once the socket is closed (a load balancer tries another instance), never
reset. Elsewhere (no ``SO_ATTACH_FILTER``) nothing changes.

The listening socket is shared by every worker of ``serve``: the filter refuses new
connections for all of them, so only a server stopping as a whole attaches it."""

from __future__ import annotations

import ctypes
import socket
import sys

SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>
TCP_FLAGS_OFFSET = 13  # in the TCP header, which a TCP socket's filter reads from
ACK, SYN = 0x10, 0x02
# Time for handshakes under way when the filter went on to complete (their last ACK
# passes it) before the accept queue is taken for the last time: a round trip within a
# data centre. Kept short: a client whose SYN is dropped meanwhile waits for its second
# try (about a second) before it is refused.
HANDSHAKE_SECONDS = 0.01


class _Instruction(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Instruction))]


_LOAD_BYTE, _JUMP_IF_SET, _RETURN = 0x30, 0x45, 0x06  # BPF_LD|B|ABS, BPF_JMP|JSET|K, BPF_RET|K
_DROP_SYN = (_Instruction * 5)(
    _Instruction(_LOAD_BYTE, 0, 0, TCP_FLAGS_OFFSET),
    _Instruction(_JUMP_IF_SET, 2, 0, ACK),  # any ACK (a handshake's end, data): keep
    _Instruction(_JUMP_IF_SET, 0, 1, SYN),  # a SYN without ACK: drop
    _Instruction(_RETURN, 0, 0, 0),  # drop
    _Instruction(_RETURN, 0, 0, 0xFFFFFFFF),  # keep
)
_PROGRAM = _Program(len(_DROP_SYN), _DROP_SYN)


def refuse_new_connections(listener: socket.socket) -> bool:
    """Attach the filter to ``listener``; whether it took (Linux, a TCP socket)."""
    if sys.platform != "linux":  # the option's number means something else elsewhere
        return False
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(memoryview(_PROGRAM)))
    except OSError:
        return False
    return True
