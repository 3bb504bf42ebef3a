"""A logged request body kept as its envelope and content-addressed parts (issue #67).

An agent's request repeats the whole conversation every turn: stored whole, a 100-turn
session wrote 100 bodies growing to 140 KB each, quadratic in its length. Split here,
a JSON body is its **envelope** (the body with each large top-level value replaced by a
placeholder) and **parts**: each element of a top-level list (``messages``, ``input``,
``contents``, ``tools``, ``system`` blocks) and each large top-level object or string
(``system``, ``systemInstruction``, ``instructions``) is a node of the ``BodyBlob`` table,
written once however many bodies name it. Dialect-blind: whichever key a format keeps its
conversation under, a long top-level list is one.

A node is addressed by its content **and the prefix it follows**: its hash is that of
the previous element's hash and its own canonical JSON (a hash chain), and it names that
previous node as its parent. A list is then one reference, its last node's hash (the
tip) and its length; a session's next request shares every node of the prefix it repeats
and adds one node per new message. (Addressing each message alone would have each body
list every message's hash: 25 bytes a message a turn, quadratic again.) The same message
after two different prefixes is two nodes: the price of one reference a list.

Canonical JSON is compact orjson: what the writer stores, hashes and joins back. A body
is split only when its text *is* that form (key order kept; JavaScript, Rust and httpx
clients send it so): ``split`` checks that orjson writes the parsed body back as the very
text, and that each placeholder is found in the envelope once. orjson's compact form is
made of its parts' (an object is ``{`` + ``"key":value`` joined by commas + ``}``, a list
likewise), so ``join`` then gives a reader exactly the text stored whole before.
Anything else (pretty-printed or cut JSON, form data, a body with a duplicate key) is
stored whole, as before.

Hashes are SHA-256 cut to 16 bytes (hex): the cheapest cryptographic hash here (the CPU's
SHA extensions, which x86-64 and ARM servers have had for years: 164 us for a 147 KB
request's 220 parts where BLAKE2b took 223 us, docs/benchmarks.md) and not forgeable: a
non-cryptographic hash (xxHash) would let a caller craft a message that another caller's
logged body would show in place of its own. 128 bits leave a chance collision at 2^64
parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, NamedTuple

import orjson

DIGEST_BYTES = 16
HASH_CHARS = 2 * DIGEST_BYTES
# a top-level value smaller than this (as JSON) stays in the envelope: a node costs a
# row and two hashes, more than a short value
PART_MIN_BYTES = 256
# a body shorter than this is stored whole (no part could reach PART_MIN_BYTES worth it)
SPLIT_MIN_CHARS = 1024
# shown in place of a part no longer stored (never expected: see gateway.models.body_blobs)
MISSING = "[part of this body no longer stored by Switchyard]"

# A part reference as RequestBody.parts stores it: [tip, count] for a list (its last
# node and its length), [hash] for one value.
Ref = list[Any]
# What joining reads of the stored nodes: hash -> (parent, data)
Nodes = Mapping[str, tuple[str | None, str]]


class Node(NamedTuple):
    """One part as split: its hash, the hash of the element before it in its list (None
    for a first element or a single value) and its canonical JSON (utf-8: decoded only
    if it is written)."""

    hash: str
    parent: str | None
    data: bytes


@dataclass(slots=True)
class Split:
    """A body split: the envelope stored in the body's column, the references by key
    (``RequestBody.parts``) and every node they name, in list order."""

    envelope: str
    refs: dict[str, Ref]
    nodes: list[Node]


class MissingPart(LookupError):
    """A reference names a node that is not stored (or a chain that ends too soon)."""


def placeholder(key: str) -> str:
    """What stands in the envelope for the value under ``key``: a JSON string no
    canonical body holds by chance (it starts with NUL; ``split`` checks it anyway)."""
    return orjson.dumps("\x00" + key).decode()


def node_hash(parent: bytes, data: bytes) -> bytes:
    """A node's digest: of its parent's digest (b"" for none) and its canonical JSON."""
    digest = sha256(parent)
    digest.update(data)
    return digest.digest()[:DIGEST_BYTES]


def split(text: str) -> Split | None:
    """``text`` as envelope and parts, or None when it is to be stored whole: not a JSON
    object in canonical form, no value large enough to be a part, or a placeholder not
    found exactly once in the envelope (see the module docstring)."""
    if len(text) < SPLIT_MIN_CHARS or not text.startswith("{"):
        return None
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or orjson.dumps(body) != text.encode():
        return None
    refs: dict[str, Ref] = {}
    nodes: list[Node] = []
    envelope: dict[str, Any] = {}
    for key, value in body.items():
        envelope[key] = value
        if isinstance(value, list) and value:
            items = [orjson.dumps(item) for item in value]
            if sum(map(len, items)) < PART_MIN_BYTES:
                continue
            digest, parent = b"", None
            for item in items:
                hasher = sha256(digest)
                hasher.update(item)
                digest = hasher.digest()[:DIGEST_BYTES]
                node = Node(digest.hex(), parent, item)
                nodes.append(node)
                parent = node.hash
            refs[key] = [parent, len(items)]
        elif isinstance(value, dict | str):
            item = orjson.dumps(value)
            if len(item) < PART_MIN_BYTES:
                continue
            nodes.append(Node(node_hash(b"", item).hex(), None, item))
            refs[key] = [nodes[-1].hash]
        else:
            continue
        envelope[key] = "\x00" + key
    if not refs:
        return None
    wrapped = orjson.dumps(envelope).decode()
    if any(wrapped.count(placeholder(key)) != 1 for key in refs):
        return None
    return Split(wrapped, refs, nodes)


def tips(refs: Mapping[str, Ref]) -> list[str]:
    """The hashes a body's references start from (each list's last node, each value)."""
    return [ref[0] for ref in refs.values()]


def join(envelope: str, refs: Mapping[str, Ref], nodes: Nodes) -> str:
    """The body ``split`` made ``envelope`` and ``refs`` of, from ``nodes`` (hash ->
    (parent, data)). Raises ``MissingPart`` when a node is not in ``nodes``."""
    return _assemble(envelope, {key: part_text(ref, nodes) for key, ref in refs.items()})


def join_or_mark(envelope: str, refs: Mapping[str, Ref], nodes: Nodes) -> str:
    """``join``, with ``MISSING`` (as a JSON string) in place of a part that cannot be
    made: the rest of the body stays readable."""
    pieces = {}
    for key, ref in refs.items():
        try:
            pieces[key] = part_text(ref, nodes)
        except MissingPart:
            pieces[key] = orjson.dumps(MISSING).decode()
    return _assemble(envelope, pieces)


def _assemble(envelope: str, pieces: Mapping[str, str]) -> str:
    """``envelope`` with each placeholder replaced by its piece, found in the envelope
    alone (a piece is never searched: a message may quote a placeholder). A placeholder
    not there is skipped: the text is whole already (a row saved back after reading)."""
    found = ((envelope.find(placeholder(key)), key) for key in pieces)
    at = sorted((start, key) for start, key in found if start >= 0)
    out: list[str] = []
    done = 0
    for start, key in at:
        out.append(envelope[done:start])
        out.append(pieces[key])
        done = start + len(placeholder(key))
    out.append(envelope[done:])
    return "".join(out)


def part_text(ref: Ref, nodes: Nodes) -> str:
    """One reference's JSON text: a list's elements walked back from its tip, or one
    value."""
    if len(ref) == 1:
        found = nodes.get(ref[0])
        if found is None:
            raise MissingPart(ref[0])
        return found[1]
    at: str | None = ref[0]
    items: list[str] = []
    for _ in range(int(ref[1])):
        found = nodes.get(at) if at is not None else None
        if found is None:
            raise MissingPart(str(at))
        at, data = found
        items.append(data)
    if at is not None:
        raise MissingPart(f"{ref[0]} is longer than {ref[1]}")
    items.reverse()
    return "[" + ",".join(items) + "]"
