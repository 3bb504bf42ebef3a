"""Stored turns that name the turn before them (stored Responses, Gemini Interactions):
the chain ending at one turn, read back in one recursive query.

Only the last row is checked against the key: a chain is only ever extended by the key
that can see its last turn."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Model

MAX_CHAIN = 10_000

_SQL = """
WITH RECURSIVE chain(id, prev, depth) AS (
    SELECT id, {link}, 0 FROM {table} WHERE id = %s AND {owner}
    UNION ALL
    SELECT r.id, r.{link}, c.depth + 1
    FROM {table} r JOIN chain c ON r.id = c.prev
    WHERE c.prev <> '' AND c.depth < %s
)
SELECT {columns}, c.prev FROM chain c JOIN {table} r ON r.id = c.id
ORDER BY c.depth DESC
"""


def rows(
    model: type[Model], link: str, columns: tuple[str, ...], last_id: str, key_id: int | None
) -> list[tuple[Any, ...]]:
    """``columns`` of each row of the chain ending at ``last_id`` (the key ``key_id``'s;
    None: the master key's), oldest first, each followed by the id its row points back
    to: not empty on the first row when the earlier part is no longer stored. No rows:
    the key has no such turn."""
    table = connection.ops.quote_name(model._meta.db_table)
    owner = "key_id IS NULL" if key_id is None else "key_id = %s"
    params: list[Any] = [last_id] if key_id is None else [last_id, key_id]
    selected = ", ".join(f"r.{name}" for name in columns)
    sql = _SQL.format(link=link, table=table, owner=owner, columns=selected)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MAX_CHAIN])
        found: list[tuple[Any, ...]] = cursor.fetchall()
    return found
