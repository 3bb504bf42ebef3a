"""Usernames that a single sign-on, an invitation or ``/api/users`` may create
(``gateway.features.people.save``): normalised, checked, and never a look-alike of an account
that exists.

- ``normalise``: Unicode NFKC (full-width and compatibility forms folded) and trimmed.
- ``problem``: why a name is unusable: empty, longer than 150, a control or format
  character (``\\x00``, a right-to-left override, a zero-width joiner), or a character
  outside letters, digits and ``. @ + - _`` (Django's own username rule).
- ``skeleton``: a confusable skeleton in the spirit of Unicode TR39: NFKD, combining
  marks dropped, case folded, then the Latin look-alikes of Cyrillic and Greek letters
  and of a few digits and pairs (``0`` o, ``1`` l, ``rn`` m) mapped to one letter. No
  maintained TR39 library is installed here, so this is a small table of the characters
  that make ``admin`` out of other scripts; two names with the same skeleton are
  look-alikes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_LENGTH = 150
_ALLOWED = re.compile(r"^[\w.@+-]+\Z")
# Cyrillic, Greek and other letters drawn like a Latin one (after case folding).
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ї": "i",
        "ј": "j", "к": "k", "ӏ": "l", "м": "m", "п": "n", "о": "o", "р": "p", "ԛ": "q",
        "г": "r", "ѕ": "s", "т": "t", "ц": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y",
        "з": "3", "ь": "b", "ы": "bi", "ё": "e",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ς": "c",
        # Latin look-alikes
        "ı": "i", "ł": "l", "ø": "o", "ß": "ss", "ƅ": "b", "ɡ": "g", "ɑ": "a",
        # digits and punctuation read as letters
        "0": "o", "1": "l", "|": "l", "5": "s", "_": "-", ".": "-",
    }
)  # fmt: skip
_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("i", "l"))


def normalise(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


def problem(name: str) -> str:
    """Why ``name`` (normalised) cannot be a username; empty when it can."""
    if not name:
        return "the identity provider sent no usable username"
    if len(name) > MAX_LENGTH:
        return f"the username is longer than {MAX_LENGTH} characters"
    if any(unicodedata.category(ch)[0] in ("C", "Z") for ch in name):
        return "the username holds control, format or space characters"
    if not _ALLOWED.match(name):
        return "the username may hold letters, digits and . @ + - _ only"
    return ""


def skeleton(name: str) -> str:
    """What ``name`` looks like: equal skeletons read the same to a person."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = bare.casefold().translate(_LOOK_ALIKES)
    for pair, letter in _PAIRS:
        folded = folded.replace(pair, letter)
    return folded


def look_alike(name: str, existing: Iterable[str]) -> str | None:
    """The existing name ``name`` imitates (same skeleton, not the same name), or None."""
    mark = skeleton(name)
    return next((other for other in existing if other != name and skeleton(other) == mark), None)
