"""A stored body kept as how to make it from another body of the same row.

A passed-through request goes upstream as the caller sent it with only the model
renamed, and a passed-through stream comes back to the caller as the upstream sent it
with only the model renamed back; so a row held the same text twice (an agent's
request: 150 KB twice; a stream: every event twice). When the upstream's body is its
neighbour with every ``"model":`` value renamed, it is stored empty and
``RequestBody.derived`` says how to remake it: ``{"upstream_request": ["inbound_request",
old, new], ...}``, ``old`` and ``new`` the model's JSON strings as written in each body
(``""`` for both: the same text).

The recipe is checked when the row is written: a body is derived only when the recipe
remakes it exactly, so reading it back gives the very text that would have been stored.
The bodies searched by the log filter (the caller's request and answer) are always
stored whole."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

import orjson

from gateway.base.marker_scan import marker_starts

# (the body kept as a recipe, the body it is made from)
DERIVED = (("upstream_request", "inbound_request"), ("upstream_response", "outbound_response"))
# shorter bodies are stored whole: the recipe would save nothing worth its check
MIN_CHARS = 512
# a body and the one made from it end alike (the model is named near the start of a JSON
# body, and a stream ends with its last event): others are told apart by their ends
TAIL = 32
_MODEL = re.compile(r'"model": ?("(?:[^"\\]|\\.)*")')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_KEY = '"model":'
# a text this long is searched by Hyperscan (``marker_scan``): str.find passes over
# 140 KB in 30 to 60 us, Hyperscan in about 7; shorter, the call costs more than it saves
SCAN_FROM = 16 * 1024


def renamed(text: str, old: str, new: str) -> str:
    """``text`` with every ``"model":`` valued ``old`` valued ``new`` instead (JSON
    strings as written, compact or with one space, as JSON encoders write them)."""
    if not old:
        return text
    return text.replace('"model":' + old, '"model":' + new).replace(
        '"model": ' + old, '"model": ' + new
    )


def recipe(target: str, source: str) -> tuple[str, str] | None:
    """``(old, new)`` such that ``renamed(source, old, new) == target``, or None when
    ``target`` is not ``source`` with its model renamed."""
    if len(target) < MIN_CHARS or not source:
        return None
    if target == source:
        return "", ""
    if target[-TAIL:] != source[-TAIL:]:
        return None  # (a translated body: told apart without a pass over it)
    in_target, in_source = _MODEL.search(target), _MODEL.search(source)
    if in_target is None or in_source is None:
        return None
    old, new = in_source.group(1), in_target.group(1)
    if old == new:
        return None  # they differ somewhere else
    grown, step = len(target) - len(source), len(new) - len(old)
    if (grown % step or grown // step < 1) if step else grown:
        return None  # no number of renames makes up the difference in length
    if not renames_to(source, target, old, new):
        return None
    return old, new


def renames_to(source: str, target: str, old: str, new: str) -> bool:
    """``renamed(source, old, new) == target``, told without making the renamed text:
    the stretches of ``source`` between its ``"model":`` values ``old`` are compared with
    ``target`` at their places (an agent's request: two 145 KB texts built and one
    compared, before). Where one rename could make or unmake another (``renamed``'s
    second pass runs over the first's text), ``renamed`` decides: ``"model":`` found
    inside a value renamed or touching it, or ``old`` or ``new`` holding ``"model"`` (a
    value's inner quotes are escaped, so these are the only ways; see the tests), or
    ``old`` or ``new`` not a JSON string as ``recipe`` finds them."""
    if not (_STRING.fullmatch(old) and _STRING.fullmatch(new)) or '"model"' in old + new:
        return renamed(source, old, new) == target
    done = pos = 0  # where the stretch to compare starts, in source and in target
    for at in _key_starts(source):
        if at < done:
            return renamed(source, old, new) == target
        value = at + len(_KEY) + source.startswith(" ", at + len(_KEY))
        if source.startswith(old, value):
            if not target.startswith(source[done:value], pos):
                return False
            pos += value - done
            if not target.startswith(new, pos):
                return False
            pos += len(new)
            done = value + len(old)
    return len(target) - pos == len(source) - done and target.startswith(source[done:], pos)


def _key_starts(text: str) -> list[int]:
    """Where ``"model":`` starts in ``text``, each time (it cannot overlap itself)."""
    starts = marker_starts(text, _KEY) if len(text) >= SCAN_FROM else None
    if starts is not None:
        return starts
    starts = []
    at = text.find(_KEY)
    while at >= 0:
        starts.append(at)
        at = text.find(_KEY, at + len(_KEY))
    return starts


def derive(bodies: MutableMapping[str, str]) -> str | None:
    """Empty each body of ``bodies`` (field name -> stored text) its neighbour remakes;
    the recipes as ``RequestBody.derived`` stores them, or None when there are none."""
    recipes: dict[str, list[str]] = {}
    for target, source in DERIVED:
        found = recipe(bodies[target], bodies[source])
        if found is not None:
            recipes[target] = [source, *found]
            bodies[target] = ""
    return orjson.dumps(recipes).decode() if recipes else None


def expand(fields: MutableMapping[str, Any], derived: str | None) -> None:
    """Put back the bodies ``derived`` (``RequestBody.derived``) makes from ``fields``
    (a loaded row's attributes); a body whose neighbour was not loaded is left out."""
    if not derived:
        return
    for target, (source, old, new) in orjson.loads(derived).items():
        text = fields.get(source)
        if isinstance(text, str) and target in fields:
            fields[target] = renamed(text, old, new)
