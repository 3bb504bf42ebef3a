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

# (the body kept as a recipe, the body it is made from)
DERIVED = (("upstream_request", "inbound_request"), ("upstream_response", "outbound_response"))
# shorter bodies are stored whole: the recipe would save nothing worth its check
MIN_CHARS = 512
# a body and the one made from it end alike (the model is named near the start of a JSON
# body, and a stream ends with its last event): others are told apart by their ends
TAIL = 32
_MODEL = re.compile(r'"model": ?("(?:[^"\\]|\\.)*")')


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
    if renamed(source, old, new) != target:
        return None
    return old, new


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
