"""Request ids (gateway.core.service.new_request_id): random, distinct across buffer
refills and across a fork."""

from __future__ import annotations

import os
import re

from gateway.core import service


def test_ids_are_32_hex_digits_and_never_repeat_across_refills() -> None:
    ids = [service.new_request_id() for _ in range(1000)]  # about four 4 KiB reads
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_hand_out_its_parents_next_ids() -> None:
    service.new_request_id()  # the parent holds a buffer with ids still unused
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out
        os.close(read)
        os.write(write, service.new_request_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child_id)
    assert child_id != service.new_request_id()
