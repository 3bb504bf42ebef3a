"""The journal writer's CPU for one mid-size body (issue #67): ``journal.rows.body_text``
(decode, redaction, cut) of a body of 1 to 16 KB converted on its own, as a body is when
its record's bodies are not joined (``rows._short_texts``: one holds something to
redact, or a body of the record is long or not bytes).

    .venv/bin/python bench/mid_bodies.py [--rounds 7] [--source TREE]

Bodies: a chat request's JSON of each size, clean (nothing to redact), holding one
configured secret, one caller credential field (an MCP ``authorization_token``), clean
with non-ASCII text, or clean but for words the key patterns' markers are in ("task-",
"easy-"); four configured secrets (a master key, three provider credentials). Prints
the least thread CPU a body over ``--rounds`` rounds (each the mean of ``--repeat``
conversions) in microseconds. No database, no server: the tree at
``--source`` is imported with Django set up on a throwaway data dir."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SIZES_KB = (1, 2, 4, 8, 16)
SECRETS = (
    "sy-master-key-of-the-bench-0123456789",
    "provider-secret-one-abcdefgh",
    "provider-secret-two-ijklmnop",
    "provider-secret-three-qrstuvwx",
)
TURN = '{"role":"user","content":"Please refactor the parser - keep x = y + 1 as it is."},'
UNICODE_TURN = '{"role":"user","content":"Répondez en français, s\'il vous plaît — merci."},'
PLANTED = {
    "clean": "",
    "secret": SECRETS[2],
    "credential": '"authorization_token": "tok-0123456789"',
    "unicode": "",
    "task-": "a task-list, easy-going",  # (nothing to redact: "sk-", "sy-" run the key regex)
}
UNTOUCHED = ("clean", "unicode", "task-")


def body(kind: str, size: int) -> bytes:
    """A chat request's JSON of ``size`` bytes (about), holding what ``kind`` plants."""
    turn = UNICODE_TURN if kind == "unicode" else TURN
    head = '{"model":"m","messages":['
    planted = PLANTED[kind]
    middle = turn * ((size - len(head) - len(planted)) // len(turn.encode()) + 1)
    text = head + middle[: len(middle) // 2] + planted + middle[len(middle) // 2 :]
    return text.encode()[:size].decode("utf-8", "ignore").encode()  # (whole characters)


def least(work: Callable[[], object], rounds: int, repeat: int) -> float:
    """The least thread CPU of ``work`` (us) over ``rounds`` rounds of ``repeat`` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time_ns()
        for _ in range(repeat):
            work()
        best = min(best, (time.thread_time_ns() - started) / repeat / 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=400, help="conversions a round")
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-mid-") as folder:
        os.environ.update(
            SWITCHYARD_DATA_DIR=folder,
            SWITCHYARD_MASTER_KEY=SECRETS[0],
            DJANGO_SETTINGS_MODULE="gateway.server.settings",
            DEBUG="0",
        )
        sys.path.insert(0, str(Path(args.source).resolve()))
        import django

        django.setup()
        from gateway.journal import rows

        print(f"tree: {Path(rows.__file__).parents[2]}")
        limit = 1 << 20
        print(
            f"us a body (least of {args.rounds} rounds)  " + "".join(f"{k:>8} KB" for k in SIZES_KB)
        )
        for kind in PLANTED:
            cells = []
            for size in SIZES_KB:
                data = body(kind, size * 1024 - 1)  # (below 16 KB: the mid-size paths)
                text, _ = rows.body_text(data, limit, SECRETS)
                assert (text == data.decode()) == (kind in UNTOUCHED), kind
                work = functools.partial(rows.body_text, data, limit, SECRETS)
                cells.append(least(work, args.rounds, args.repeat))
            print(f"{kind:<34}" + "".join(f"{c:11.1f}" for c in cells))


if __name__ == "__main__":
    main()
