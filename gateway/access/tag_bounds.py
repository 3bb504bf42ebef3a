"""What a request tag may be, wherever tags are given: a key's default tags (the key
form, ``/api/keys``) and a request's own (``gateway.telemetry.tags``). No Django: the
request path reads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_TAGS = 20
MAX_LENGTH = 64  # RequestTag.tag's column


def clean_tags(values: Iterable[Any]) -> tuple[str, ...]:
    """``values`` as tags: strings stripped of spaces and unprintable characters, empty
    ones left out, each once in order. A ``ValueError`` naming the problem for a value
    that is not a string, a tag longer than ``MAX_LENGTH`` or more than ``MAX_TAGS``."""
    out: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str):
            raise ValueError("every tag must be a string")
        tag = "".join(ch for ch in value.strip() if ch.isprintable())
        if not tag:
            continue
        if len(tag) > MAX_LENGTH:
            raise ValueError(f"a tag is at most {MAX_LENGTH} characters ({tag[:20]!r}…)")
        out[tag] = None
    if len(out) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tuple(out)


def parse_tags(value: object) -> list[str]:
    """Tags given as a list of strings or one comma-separated string (None, "": none)."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("a list of tags, or a comma-separated string")
    return list(clean_tags(items))
