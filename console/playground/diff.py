"""Word-level diff of two playground answers, rendered as HTML with <del> (only in the
first) and <ins> (only in the second)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A word or a punctuation mark with the whitespace after it (and any whitespace the text
# opens with): a changed word is marked with its space, so a removed word and the one
# that replaced it read as two words ("returned said"), never glued ("returnedsaid").
TOKEN = re.compile(r"\s+|\w+\s*|[^\w\s]\s*")


@dataclass(slots=True)
class WordDiff:
    html: SafeString
    similarity: float  # 0..1, difflib's ratio over word tokens
    added: int  # words only in the second text
    removed: int  # words only in the first text


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _key(token: str) -> str:
    """What two tokens must share to be the same word: the word, and whether a space or
    a line break follows it (not how many)."""
    word = token.rstrip()
    gap = token[len(word) :]
    return word + ("\n" if "\n" in gap else " " if gap else "")


def _words(pieces: list[str]) -> int:
    return sum(1 for piece in pieces if not piece.isspace())


def word_diff(first: str, second: str) -> WordDiff:
    a, b = tokens(first), tokens(second)
    matcher = difflib.SequenceMatcher(None, [_key(t) for t in a], [_key(t) for t in b], False)
    out: list[str] = []
    added = removed = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":  # as the second text spaces it
            out.append(escape("".join(b[j1:j2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
            removed += _words(a[i1:i2])
        if op in ("insert", "replace"):
            # Right after a removed word with no space of its own (the text's last
            # word): set apart by the page, so the two still read as two words.
            apart = op == "replace" and not a[i2 - 1][-1].isspace()
            tag = '<ins class="apart">' if apart else "<ins>"
            out.append(f"{tag}{escape(''.join(b[j1:j2]))}</ins>")
            added += _words(b[j1:j2])
    return WordDiff(mark_safe("".join(out)), round(matcher.ratio(), 3), added, removed)
