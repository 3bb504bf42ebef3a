"""Request ids (gateway.core.service.new_request_id): UUIDv7 in 32 hex digits, in time
order, distinct across buffer refills and across a fork."""

from __future__ import annotations

import os
import re
import time
import uuid

from gateway.core import service


def test_ids_are_32_hex_digits_and_never_repeat_across_refills() -> None:
    ids = [service.new_request_id() for _ in range(1000)]  # about four 4 KiB reads
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_are_uuid7_in_time_order_with_74_random_bits() -> None:
    earlier = service.new_request_id()
    time.sleep(0.002)
    ids = [service.new_request_id() for _ in range(2000)]  # five refills
    parsed = [uuid.UUID(i) for i in [earlier, *ids]]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(earlier < i for i in ids)  # a later millisecond sorts after
    millis = int(ids[0][:12], 16)
    assert abs(millis - time.time() * 1000) < 5_000
    # every random bit varies across ids: none is stuck (the version and variant are)
    fixed = (0xF << 76) | (0b11 << 62)
    seen_one = seen_zero = 0
    for u in parsed:
        low80 = u.int & ((1 << 80) - 1)
        seen_one |= low80
        seen_zero |= ~low80 & ((1 << 80) - 1)
    assert seen_one | fixed == (1 << 80) - 1 and seen_zero | fixed == (1 << 80) - 1


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
