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
# texts split recently whose parts a next split takes instead of encoding, hashing and
# parsing them again: 32 of them (about 10 MB at an agent's 150 KB: the text and its
# parts' bytes), the newest first
RECENT_LAYOUTS = 32
# of the remembered texts that look like the same conversation (``_Layout.probes``), the
# newest this many are compared in full, and the one sharing the most taken from
ALIKE_COMPARED = 4
# how many bytes of a remembered text ``_recall`` compares at each probe before
# comparing all of it
PROBE_BYTES = 48

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


# the texts last split (``split``), the newest first
_recent: list[_Layout] = []
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


class Recalled(NamedTuple):
    """A text's bytes, the remembered text sharing the longest prefix with them (None:
    none) and how many bytes they share (``recall``)."""

    data: bytes
    prior: _Layout | None
    same: int

    def clean_prefix(self, checked: object) -> int:
        """How many first bytes are a prefix of a remembered text that its caller
        vouched for with ``checked`` (``split``'s ``clean``); 0 when none."""
        prior = self.prior
        return self.same if prior is not None and prior.clean == checked else 0


def recall(data: bytes) -> Recalled:
    """What ``split`` takes from earlier texts for a text of these bytes (see
    ``_recall``); handed to ``split`` so that it is not looked for twice."""
    return Recalled(data, *_recall(data))


def split(text: str, *, clean: object = None, recalled: Recalled | None = None) -> Split | None:
    """``text`` as envelope and parts, or None when it is to be stored whole: not a JSON
    object in canonical form, no value large enough to be a part, or a placeholder not
    found exactly once in the envelope (see the module docstring).

    What the body repeats of one split shortly before (``_Layout``: an agent's next turn
    repeats the conversation so far) is taken from that split, not parsed, encoded and
    hashed again: a key or a part whose bytes lie wholly inside the prefix the two texts
    share sits at the same offset, after the same keys and parts, so it is the same key
    and value, and the same node. Only the text after them is parsed (``_resumed``).

    ``clean``: what the caller vouches this text was checked against (its redaction's
    secrets), kept with it for ``Recalled.clean_prefix``; ``recalled``: ``recall`` of
    the text's utf-8 bytes, made already."""
    if len(text) < SPLIT_MIN_CHARS or not text.startswith("{"):
        return None
    data, prior, same = recalled if recalled is not None else recall(text.encode())
    walk = _resumed(data, prior, same) if prior is not None else None
    if walk is not None:
        done = _walked(data, walk, prior, same, clean)
        if done is not None:
            return done
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    return _walked(data, _Walk(list(body.items()), 1), prior, same, clean)


class _Walk:
    """A split under way: the keys still to walk from offset ``at`` (after the "{" or
    "," before the first of them) and what the keys before them gave."""

    __slots__ = (
        *("items", "at", "keys", "envelope", "chains", "nodes", "refs", "taken", "virtual"),
        *("after", "shift"),
    )

    def __init__(self, items: list[tuple[str, Any]], at: int) -> None:
        self.items = items
        self.at = at
        self.keys: list[_Key] = []
        self.envelope: dict[str, Any] = {}
        self.chains: dict[str, _Chain] = {}
        self.nodes: list[Node] = []
        self.refs: dict[str, Ref] = {}
        self.taken = 0  # parts taken from the remembered text
        self.virtual = ""  # a list whose first elements were taken (None in their place)
        # the remembered text's keys after the last of ``items``, taken moved by ``shift``
        self.after: list[_Key] = []
        self.shift = 0

    def add(self, key: _Key, chain: _Chain | None) -> None:
        self.keys.append(key)
        self.envelope[key.name] = key.kept
        if chain is not None:
            self.chains[key.name] = chain
            self.nodes.extend(chain.nodes)
            self.refs[key.name] = (
                [chain.nodes[-1].hash, len(chain.nodes)] if chain.listed else [chain.nodes[0].hash]
            )


def _resumed(data: bytes, prior: _Layout, same: int) -> _Walk | None:
    """The walk of ``data`` past what it shares with ``prior`` (its first ``same``
    bytes): the keys lying wholly in those bytes taken, and the rest of the text parsed
    alone: from the first element of a list not wholly shared (a session's next turn:
    its new messages) or from the first key not wholly shared. None when nothing past
    the first key is shared, or the rest does not parse."""
    walk = _Walk([], 1)
    for index, key in enumerate(prior.keys):  # noqa: B007  (``index`` read after the loop)
        if key.end >= same:
            break
        taken = prior.chains.get(key.name)
        walk.add(key, taken)
        walk.taken += len(taken.nodes) if taken is not None else 0
        walk.at = key.end + 1
    else:
        return walk  # (all of ``prior``: the walk checks ``data`` ends there too)
    chain = prior.chains.get(key.name)
    if chain is not None and chain.listed and chain.first <= same:
        count = bisect_right(chain.ends, same)
        sep = chain.ends[count - 1] if count else 0
        if sep >= len(data):
            return None
        start = sep + 1 if count else chain.first
        grows = not count or data[sep : sep + 1] == b","  # (elements follow those taken)
        if grows and _ends_as_after(data, prior, index, start):
            # (what follows the list is the text before's: only the new elements parsed)
            walk.after, walk.shift = prior.keys[index + 1 :], len(data) - len(prior.data)
            rest = b'{"\\u0000":[' + data[start : key.end + walk.shift] + b"}"
        elif grows:
            rest = b'{"\\u0000":[' + data[start:]
        else:  # (the list ends where it did, or sooner: the walk checks its "]")
            rest = b'{"\\u0000":[]' + data[sep + 1 :]
        parsed = _parsed(rest)
        if parsed is None or not isinstance(first := next(iter(parsed.values()), None), list):
            return None
        items = list(parsed.items())
        items[0] = (key.name, [None] * count + first)
        walk.virtual = key.name if count else ""
    else:
        if not walk.keys:
            return None
        parsed = _parsed(b"{" + data[key.at :])
        if parsed is None:
            return None
        items = list(parsed.items())
    walk.items = items
    return walk


def _ends_as_after(data: bytes, prior: _Layout, index: int, start: int) -> bool:
    """Whether ``prior`` has keys after its ``index``-th (the conversation's list) and
    ``data`` ends, past ``start``, with the very bytes ``prior`` has from that list's end
    (the "," after it, those keys, the "}"): checked when ``prior`` was split, so they
    are those keys and values, moved by what the list grew (OpenAI chat's ``tools``
    after ``messages``; ``_walked`` takes them, ``_moved`` their parts)."""
    end = prior.keys[index].end
    if index + 1 >= len(prior.keys) or len(data) - (len(prior.data) - end) <= start:
        return False
    return data.endswith(memoryview(prior.data)[end:])


def _parsed(text: bytes) -> dict[str, Any] | None:
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def _walked(
    data: bytes, walk: _Walk, prior: _Layout | None, same: int, clean: object
) -> Split | None:
    """``walk`` walked to the end of ``data``: each key, value and separator checked to be
    what orjson writes at its offset (``_value_part``), the large values made parts; the
    split, remembered for the next, or None (see ``split``)."""
    earlier, before = (prior.chains, prior.data) if prior is not None else ({}, b"")
    at, left = walk.at, len(walk.items) + len(walk.after)
    for name, value in walk.items:
        if name in walk.envelope:  # (a key taken and written again: not canonical)
            return None
        encoded = orjson.dumps(name)
        if not data.startswith(encoded, at) or not data.startswith(b":", at + len(encoded)):
            return None
        key_at = at
        at += len(encoded) + 1
        placed = _value_part(value, data, at, earlier.get(name), same, before)
        if placed is None:
            return None
        chain, size, shared = placed
        if chain is None and name == walk.virtual:
            return None  # (a list left in the envelope: its taken elements are not at hand)
        walk.taken += shared
        left -= 1
        if not data.startswith(b"," if left else b"}", at + size):
            return None
        kept = value if chain is None else "\x00" + name
        walk.add(_Key(name, key_at, at, at + size, kept), chain)
        at += size + 1  # the value and the "," or "}" after it
    shift = walk.shift
    for key in walk.after:  # (the text before's keys after the list, moved: _ends_as_after)
        if key.name in walk.envelope or at != key.at + shift:
            return None
        taken = earlier.get(key.name)
        chain = _shifted(taken, shift) if taken is not None else None
        walk.taken += len(taken.nodes) if taken is not None else 0
        walk.add(_Key(key.name, at, key.value + shift, key.end + shift, key.kept), chain)
        at = key.end + shift + 1
    if not walk.refs or at != len(data):  # (the walk found ``data`` to be orjson's body
        return None  # up to ``at``: the rest would be text after the object)
    wrapped = orjson.dumps(walk.envelope).decode()
    if any(wrapped.count(placeholder(key)) != 1 for key in walk.refs):
        return None
    # the layout it took most from is this session's turn before: this one replaces it
    superseded = prior if prior is not None and walk.taken * 2 >= prior.parts() else None
    _remember(_Layout.of(data, walk.chains, walk.keys, clean), superseded)
    return Split(wrapped, walk.refs, walk.nodes)


def _value_part(
    value: Any, data: bytes, at: int, known: _Chain | None, same: int, before: bytes
) -> tuple[_Chain | None, int, int] | None:
    """Where the top-level ``value`` at offset ``at`` of ``data`` lies: its chain (None
    when it stays in the envelope), its size in bytes and how many nodes it took from
    ``known`` (see ``_list_part`` and ``_moved``); None when ``data`` does not hold it as
    orjson writes it. A value taken from ``known`` lies in the bytes shared with
    ``before`` (the text ``known`` was split from, checked then), or is those very bytes
    moved (``_moved``)."""
    if isinstance(value, list) and value:
        listed = _list_part(value, data, at, known, same, before)
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
    moved = _moved(value, data, at, known, before) if known is not None else None
    if moved is not None:
        return moved, moved.ends[0] - at, 1
    item = orjson.dumps(value)
    if not data.startswith(item, at):
        return None
    size = len(item)
    if size < PART_MIN_BYTES or not isinstance(value, dict | str):
        return None, size, 0
    node = Node(node_hash(b"", item).hex(), None, data[at : at + size])  # (see _list_part)
    return _Chain(False, at, [at + size], [node]), size, 0


class _Chain(NamedTuple):
    """Where the parts of one key lie in the text split: a list's elements (``listed``)
    or one value, the offset of the first, the offset after each, and their nodes."""

    listed: bool
    first: int
    ends: list[int]
    nodes: list[Node]


class _Key(NamedTuple):
    """Where one top-level key of a text split lies: the offset of its name, of its value
    and after its value (its "," or "}"), and its value as the envelope keeps it."""

    name: str
    at: int
    value: int
    end: int
    kept: Any


class _Layout(NamedTuple):
    """A text split recently: where each key and each key's parts lie in it, and its
    probes: for each list or value made parts, the ``PROBE_BYTES`` before the end of its
    second element (its first, if one), as ``(offset, bytes)`` (see ``_recall``)."""

    data: bytes
    chains: dict[str, _Chain]
    keys: list[_Key]
    probes: tuple[tuple[int, bytes], ...]
    clean: object  # (``split``'s)

    @classmethod
    def of(cls, data: bytes, chains: dict[str, _Chain], keys: list[_Key], clean: object) -> _Layout:
        ends = (chain.ends[min(1, len(chain.ends) - 1)] for chain in chains.values())
        starts = (max(0, end - PROBE_BYTES) for end in ends)
        probes = tuple((at, data[at : at + PROBE_BYTES]) for at in starts)
        return cls(data, chains, keys, probes, clean)

    def parts(self) -> int:
        return sum(len(chain.nodes) for chain in self.chains.values())


def _list_part(
    value: list[Any], data: bytes, at: int, known: _Chain | None, same: int, before: bytes
) -> tuple[_Chain, int] | None:
    """The chain of the list at offset ``at`` of ``data``. The elements that ``known``
    (the same key's chain in ``before``, a text sharing the first ``same`` bytes) has at
    the same offsets, wholly inside those bytes, are taken from it (the same bytes after
    the same prefix: the same nodes); the rest are encoded and chained after them, unless
    the whole list is ``known``'s moved (``_moved``). Returns the chain and how many
    nodes it took, or None when ``data`` does not hold the list as orjson writes it (each
    element encoded is found at its offset, and each separator)."""
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
    if known is not None and taken < len(value):
        moved = _moved(value, data, at, known, before)
        if moved is not None:
            return moved, len(moved.nodes)
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
        # its bytes at their own size (``item`` is orjson's, in a 4 KiB block at least):
        # a node outlives the split in the layouts remembered (``_recent``)
        end = start + len(item)
        node = Node(digest.hex(), parent, data[start:end])
        nodes.append(node)
        start = end
        if not data.startswith(b"," if index < last else b"]", start):
            return None
        ends.append(start)
        start += 1
        parent = node.hash
    return _Chain(True, first, ends, nodes), taken


def _moved(value: Any, data: bytes, at: int, known: _Chain, before: bytes) -> _Chain | None:
    """``known`` at offset ``at`` of ``data``, when ``data`` holds there the very bytes
    its value had in ``before`` (the text it was split from), from its first byte to its
    last: a value after the conversation, moved as the conversation grew (OpenAI chat's
    ``tools`` after ``messages``, as the gateway's translation writes them: 20 tools
    encoded and hashed again every turn). None otherwise.

    A JSON list, object or string ends where its own bytes say (its closing bracket,
    brace or quote), so the value ``data`` was parsed into at ``at`` is the one those
    bytes were parsed into in ``before``: they were checked to be its orjson encoding
    when ``before`` was split, element by element, and a node is its bytes after the
    list's earlier elements, wherever the list starts. ``value`` agrees in kind and
    length, a check that costs nothing."""
    if known.listed:
        if value.__class__ is not list or len(value) != len(known.nodes):
            return None
        start, end = known.first - 1, known.ends[-1] + 1  # its "[" and after its "]"
    elif isinstance(value, dict | str):
        start, end = known.first, known.ends[0]
    else:
        return None
    if not data.startswith(memoryview(before)[start:end], at):
        return None
    return _shifted(known, at - start)


def _shifted(chain: _Chain, shift: int) -> _Chain:
    """``chain`` (its nodes) in a text where its value lies ``shift`` bytes further on."""
    return _Chain(
        chain.listed, chain.first + shift, [end + shift for end in chain.ends], chain.nodes
    )


def _common_prefix(one: bytes, other: bytes) -> int:
    """How many first bytes ``one`` and ``other`` share (compared a window at a time,
    in place: a memoryview's window is no copy)."""
    low, high = 0, min(len(one), len(other))
    view = memoryview(other)
    if one.startswith(view[:high]):
        return high
    while high - low > 64:  # one[:low] == other[:low], one[:high] != other[:high]
        middle = (low + high) // 2
        if one.startswith(view[low:middle], low):
            low = middle
        else:
            high = middle
    while low < high and one[low] == other[low]:
        low += 1
    return low


def _recall(data: bytes) -> tuple[_Layout | None, int]:
    """The remembered text sharing the longest prefix with ``data`` and how many bytes
    it shares (None, 0 when none shares a probe). Compared in full: the newest
    ``ALIKE_COMPARED`` of those whose probes ``data`` holds at their offsets, the most
    probes held first. A probe tells one conversation from another by its first
    elements (an agent's system prompt and first message), whatever it added since; a
    list after the conversation (OpenAI's tools) moves as it grows, so not all hold."""
    with _recent_lock:
        layouts = list(_recent)
    alike: list[tuple[int, int, _Layout]] = []
    for order, layout in enumerate(layouts):
        held = 0
        for start, probed in layout.probes:
            if data.startswith(probed, start):
                held += 1
        if held:
            alike.append((-held, order, layout))
    alike.sort(key=lambda found: found[:2])
    best, same = None, 0
    for _held, _order, layout in alike[:ALIKE_COMPARED]:
        if same and not data.startswith(memoryview(layout.data)[: same + 1]):
            continue  # (shares less than the best: told at its first difference)
        shared = _common_prefix(data, layout.data)
        if shared > same:
            best, same = layout, shared
    return best, same


def _remember(layout: _Layout, superseded: _Layout | None) -> None:
    """Keep ``layout`` first (dropping ``superseded``, the same session's turn before),
    ``RECENT_LAYOUTS`` at most (the oldest dropped)."""
    with _recent_lock:
        kept = [one for one in _recent if one is not superseded]  # (not ==: 150 KB compares)
        kept.insert(0, layout)
        _recent[:] = kept[:RECENT_LAYOUTS]


def forget_layouts() -> None:
    """Forget the texts split recently (tests: a split made from nothing remembered)."""
    with _recent_lock:
        _recent.clear()


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
