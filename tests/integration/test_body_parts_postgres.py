"""Body parts stored once on PostgreSQL (``DATABASE_URL``), with a writer and the pruner
in two connections at once (the fence, ``gateway.models.body_blobs``): a DELETE that
meets a part a writer's batch has just brought forward waits for that batch and then
leaves the part; a writer that meets a part being deleted waits and stores it again;
two writers storing the same new parts in one order commit both, with no deadlock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import hashlib, json, threading, time
import django
django.setup()
from django.db import connection, transaction
from gateway.base.body_parts import Node
from gateway.journal import blobs
from gateway.models import BodyBlob

OLD, NOW = 1_000_000, int(time.time())
BOUND = NOW - 3600  # a pruner's bound: the part (seen OLD) is below it

def part(name):
    key = hashlib.sha256(name.encode()).hexdigest()[:32]
    return Node(key, None, json.dumps({"part": name}).encode())

def store_old(node):
    BodyBlob.objects.create(hash=node.hash, parent=None, seen=OLD, data=node.data.decode())

def writer_batch(nodes, ready=None, hold=0.0, go=None):
    if go is not None:
        go.wait()
    parts = blobs.Parts(start=NOW)
    for node in nodes:
        parts.nodes[node.hash] = node
    with transaction.atomic():
        parts.write()
        if ready is not None:
            ready.set()
        time.sleep(hold)
    connection.close()

def pruner(node, ready=None, hold=0.0, go=None):
    if go is not None:
        go.wait()
    with transaction.atomic():
        deleted, _ = BodyBlob.objects.filter(pk__in=[node.hash], seen__lt=BOUND).delete()
        if ready is not None:
            ready.set()
        time.sleep(hold)
    connection.close()
    return deleted

def both(first, second):
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads: t.start()
    for t in threads: t.join(30)
    assert not any(t.is_alive() for t in threads)

report = {}

# A: the writer brings the part forward first; the pruner's DELETE waits, then spares it
a = part("a"); store_old(a)
event = threading.Event()
both(lambda: writer_batch([a], ready=event, hold=1.0), lambda: pruner(a, go=event))
report["a"] = list(BodyBlob.objects.filter(pk=a.hash).values_list("seen", flat=True))

# B: the pruner deletes first; the writer's upsert waits, then stores the part again
b = part("b"); store_old(b)
event = threading.Event()
both(lambda: pruner(b, ready=event, hold=1.0), lambda: writer_batch([b], go=event))
report["b"] = list(BodyBlob.objects.filter(pk=b.hash).values_list("seen", "data"))

# C: two writers store the same new parts (given in opposite orders) at once
nodes = [part(f"c{i}") for i in range(50)]
start = threading.Event()
both(
    lambda: writer_batch(nodes, go=start, hold=0.3),
    lambda: (start.set(), writer_batch(list(reversed(nodes)), hold=0.3)),
)
report["c"] = BodyBlob.objects.filter(pk__in=[n.hash for n in nodes]).count()
print(json.dumps(report))
"""


def test_a_writer_and_the_pruner_at_once_never_lose_a_named_part(database_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "DEBUG": "0",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    now_seen = report["a"]
    assert len(now_seen) == 1 and now_seen[0] > 1_000_000  # kept, brought forward
    assert len(report["b"]) == 1 and report["b"][0][1] == '{"part": "b"}'  # stored again
    assert report["c"] == 50
