"""Word-level diff of two playground answers, rendered as HTML with <del> (only in the
first) and <ins> (only in the second)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Words, runs of whitespace and single punctuation marks: whitespace is kept as its own
# token so the rendered diff reproduces both texts exactly.
TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(slots=True)
class WordDiff:
    html: SafeString
    similarity: float  # 0..1, difflib's ratio over word tokens
    added: int  # words only in the second text
    removed: int  # words only in the first text


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _words(pieces: list[str]) -> int:
    return sum(1 for piece in pieces if not piece.isspace())


def word_diff(first: str, second: str) -> WordDiff:
    a, b = tokens(first), tokens(second)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out: list[str] = []
    added = removed = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
            removed += _words(a[i1:i2])
        if op in ("insert", "replace"):
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
            added += _words(b[j1:j2])
    return WordDiff(mark_safe("".join(out)), round(matcher.ratio(), 3), added, removed)
