"""Whole numbers read from text a caller sent: ``str.isdigit`` is true of ``"²"`` and
``"١"``, which ``int`` refuses (a 500 wherever ``isdigit`` guarded an ``int``), and a digit
string past 2**63 - 1 names no database row (the drivers refuse to bind it). Every
``isdigit``-then-``int`` of outside text reads through here."""

from __future__ import annotations

# The largest value of a signed 64-bit column (PostgreSQL bigint, SQLite INTEGER).
MAX_ROW_ID = 2**63 - 1


def ascii_int(value: str, maximum: int | None = None) -> int | None:
    """``value`` (surrounding blanks allowed) as a non-negative int: ASCII digits only, no
    sign or exponent, at most ``maximum`` when given; None otherwise."""
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if maximum is None or number <= maximum else None


def row_id(value: str) -> int | None:
    """``value`` as a row id, or None when it names none (at most ``MAX_ROW_ID``)."""
    if len(value) > 19 or value != value.strip():
        return None
    return ascii_int(value, MAX_ROW_ID)
