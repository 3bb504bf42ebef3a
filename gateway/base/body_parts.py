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
clients send it so): orjson's compact form is made of its parts' (an object is ``{`` +
``"key":value`` joined by commas + ``}``, a list likewise), so ``split`` checks, piece by
piece as it walks the parsed body, that each key, value, element and separator orjson
writes is the text at its offset, to the text's end (an element taken from a remembered
text lies in the bytes the two share, checked when that text was split: a whole second
encoding of a 150 KB body cost the writer 55 us), and that each placeholder is found in
the envelope once. ``join`` then gives a reader exactly the text stored whole before.
Anything else (pretty-printed or cut JSON, form data, a body with a duplicate key) is
stored whole, as before.

Hashes are SHA-256 cut to 16 bytes (hex): the cheapest cryptographic hash here (the CPU's
SHA extensions, which x86-64 and ARM servers have had for years: 164 us for a 147 KB
request's 220 parts where BLAKE2b took 223 us, docs/benchmarks.md) and not forgeable: a
non-cryptographic hash (xxHash) would let a caller craft a message that another caller's
logged body would show in place of its own. 128 bits leave a chance collision at 2^64
parts."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import OrderedDict
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
# texts split recently, by session (``_fingerprint``), whose parts the next split of the
# session takes instead of encoding and hashing them again: the last request of 32
# sessions (about 10 MB at an agent's 150 KB: the text and its parts' bytes)
RECENT_LAYOUTS = 32
# sessions that look alike (one agent's system prompt, tools and first messages: see
# ``_fingerprint``) remembered side by side, the one sharing the most taken from
SESSIONS_ALIKE = 4

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


# fingerprint -> the texts last split with it (``split``), the newest first; the
# fingerprints used longest ago first
_recent: OrderedDict[bytes, list[_Layout]] = OrderedDict()
_remembered = 0  # layouts in ``_recent``
_recent_lock = threading.Lock()


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
    found exactly once in the envelope (see the module docstring).

    What the body repeats of one split shortly before (``_Layout``: an agent's next turn
    repeats the conversation so far) is taken from that split, not encoded and hashed
    again: a part whose bytes lie wholly inside the prefix the two texts share sits at
    the same offset, after the same parts, so it is the same node."""
    if len(text) < SPLIT_MIN_CHARS or not text.startswith("{"):
        return None
    data = text.encode()
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    fingerprint = _fingerprint(body)
    prior, same = None, 0
    for layout in _recall(fingerprint):  # the one sharing the longest prefix
        shared = _common_prefix(data, layout.data)
        if shared > same:
            prior, same = layout, shared
    earlier = prior.chains if prior is not None else {}
    refs: dict[str, Ref] = {}
    nodes: list[Node] = []
    envelope: dict[str, Any] = {}
    chains: dict[str, _Chain] = {}
    taken = 0  # parts taken from ``prior``
    at = 1  # the offset in ``data`` of the current key's value (after "{" or ",", "key":)
    left = len(body)  # keys still to come, this one included
    for key, value in body.items():
        name = orjson.dumps(key)
        if not data.startswith(name, at) or not data.startswith(b":", at + len(name)):
            return None
        at += len(name) + 1
        envelope[key] = value
        placed = _value_part(value, data, at, earlier.get(key), same)
        if placed is None:
            return None
        chain, size, shared = placed
        taken += shared
        left -= 1
        if not data.startswith(b"," if left else b"}", at + size):
            return None
        at += size + 1  # the value and the "," or "}" after it
        if chain is None:
            continue
        chains[key] = chain
        nodes.extend(chain.nodes)
        refs[key] = (
            [chain.nodes[-1].hash, len(chain.nodes)] if chain.listed else [chain.nodes[0].hash]
        )
        envelope[key] = "\x00" + key
    if not refs or at != len(data):  # (the walk found ``data`` to be orjson's ``body``
        return None  # up to ``at``: the rest would be text after the object)
    wrapped = orjson.dumps(envelope).decode()
    if any(wrapped.count(placeholder(key)) != 1 for key in refs):
        return None
    # the layout it took most from is this session's turn before: this one replaces it
    superseded = prior if prior is not None and taken * 2 >= prior.parts() else None
    _remember(fingerprint, _Layout(data, chains), superseded)
    return Split(wrapped, refs, nodes)


def _value_part(
    value: Any, data: bytes, at: int, known: _Chain | None, same: int
) -> tuple[_Chain | None, int, int] | None:
    """Where the top-level ``value`` at offset ``at`` of ``data`` lies: its chain (None
    when it stays in the envelope), its size in bytes and how many nodes it took from
    ``known`` (see ``_list_part``); None when ``data`` does not hold it as orjson writes
    it. A value taken from ``known`` lies in the bytes shared with a text checked before."""
    if isinstance(value, list) and value:
        listed = _list_part(value, data, at, known, same)
        if listed is None:
            return None
        chain, taken = listed
        size = chain.ends[-1] + 1 - at  # to the "]"
        if size - len(value) - 1 < PART_MIN_BYTES:  # its elements' bytes
            return None, size, taken
        return chain, size, taken
    if (
        isinstance(value, dict | str)
        and known is not None
        and not known.listed
        and known.first == at <= same
        and known.ends[0] <= same
    ):
        return known, known.ends[0] - at, 1
    item = orjson.dumps(value)
    if not data.startswith(item, at):
        return None
    size = len(item)
    if size < PART_MIN_BYTES or not isinstance(value, dict | str):
        return None, size, 0
    return _Chain(False, at, [at + size], [Node(node_hash(b"", item).hex(), None, item)]), size, 0


class _Chain(NamedTuple):
    """Where the parts of one key lie in the text split: a list's elements (``listed``)
    or one value, the offset of the first, the offset after each, and their nodes."""

    listed: bool
    first: int
    ends: list[int]
    nodes: list[Node]


class _Layout(NamedTuple):
    """A text split recently and where each key's parts lie in it."""

    data: bytes
    chains: dict[str, _Chain]

    def parts(self) -> int:
        return sum(len(chain.nodes) for chain in self.chains.values())


def _list_part(
    value: list[Any], data: bytes, at: int, known: _Chain | None, same: int
) -> tuple[_Chain, int] | None:
    """The chain of the list at offset ``at`` of ``data``. The elements that ``known``
    (the same key's chain in a text sharing the first ``same`` bytes) has at the same
    offsets, wholly inside those bytes, are taken from it (the same bytes after the same
    prefix: the same nodes); the rest are encoded and chained after them. Returns the
    chain and how many nodes it took, or None when ``data`` does not hold the list as
    orjson writes it (each element encoded is found at its offset, and each separator)."""
    if not data.startswith(b"[", at):
        return None
    first = at + 1  # after "["
    ends: list[int] = []
    nodes: list[Node] = []
    taken = 0
    if known is not None and known.listed and known.first == first:
        taken = min(bisect_right(known.ends, same), len(value))
        ends, nodes = known.ends[:taken], known.nodes[:taken]
        # (the separators before ends[taken - 1] lie in the shared bytes; that one not always)
        if taken and not data.startswith(b"," if taken < len(value) else b"]", ends[-1]):
            return None
    start = ends[-1] + 1 if ends else first  # after the ","
    parent = nodes[-1].hash if nodes else None
    digest = bytes.fromhex(parent) if parent is not None else b""
    last = len(value) - 1
    for index in range(len(nodes), len(value)):
        item = orjson.dumps(value[index])
        if not data.startswith(item, start):
            return None
        hasher = sha256(digest)
        hasher.update(item)
        digest = hasher.digest()[:DIGEST_BYTES]
        node = Node(digest.hex(), parent, item)
        nodes.append(node)
        start += len(item)
        if not data.startswith(b"," if index < last else b"]", start):
            return None
        ends.append(start)
        start += 1
        parent = node.hash
    return _Chain(True, first, ends, nodes), taken


def _fingerprint(body: dict[str, Any]) -> bytes:
    """What tells a body's session from others' (its lists' first elements: the system
    prompt, the first tool, the first message), the key it is remembered under."""
    hasher = sha256()
    for key, value in body.items():
        if isinstance(value, list) and value:
            hasher.update(orjson.dumps([key, value[:2]]))
    return hasher.digest()[:DIGEST_BYTES]


def _common_prefix(one: bytes, other: bytes) -> int:
    """How many first bytes ``one`` and ``other`` share (compared a window at a time)."""
    low, high = 0, min(len(one), len(other))
    if one[:high] == other[:high]:
        return high
    while high - low > 64:  # one[:low] == other[:low], one[:high] != other[:high]
        middle = (low + high) // 2
        if one[low:middle] == other[low:middle]:
            low = middle
        else:
            high = middle
    while low < high and one[low] == other[low]:
        low += 1
    return low


def _recall(fingerprint: bytes) -> list[_Layout]:
    with _recent_lock:
        return list(_recent.get(fingerprint, ()))


def _remember(fingerprint: bytes, layout: _Layout, superseded: _Layout | None) -> None:
    """Keep ``layout`` first among its fingerprint's (dropping ``superseded``, the same
    session's turn before), at most ``SESSIONS_ALIKE`` of them, ``RECENT_LAYOUTS`` in all
    (the fingerprints used longest ago dropped first)."""
    global _remembered
    with _recent_lock:
        bucket = _recent.pop(fingerprint, [])
        _remembered -= len(bucket)
        bucket = [layout, *(kept for kept in bucket if kept is not superseded)]
        del bucket[SESSIONS_ALIKE:]
        _recent[fingerprint] = bucket
        _remembered += len(bucket)
        while _remembered > RECENT_LAYOUTS:
            _key, dropped = _recent.popitem(last=False)
            _remembered -= len(dropped)


def forget_layouts() -> None:
    """Forget the texts split recently (tests: a split made from nothing remembered)."""
    global _remembered
    with _recent_lock:
        _recent.clear()
        _remembered = 0


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
